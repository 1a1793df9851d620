-- Argo CD health check for dbindex.dev/DatabaseIndex.
--
-- Argo CD runs this in gopher-lua (Lua 5.1) with only the base, table, package and a safe os
-- library: there is no `string` (nor `math`) library unless resource.customizations.useOpenLibs
-- is set. So this script only uses `..`, tostring, tonumber, type and ipairs, and it checks the
-- type of every value it reads: any field of the object may be missing.
--
--   being deleted                                   -> Progressing "Deleting"
--   no status, or status.observedGeneration missing
--   or behind metadata.generation                   -> Progressing "Waiting for the operator"
--   condition Ready=True                            -> Healthy
--   phase Paused (spec.paused holds an action back) -> Suspended, with what would run
--   phase Retrying (another attempt is scheduled)   -> Progressing, with the last failure
--   phase Reindexing (spec.maintenance rebuilds it) -> Progressing "Reindexing <percent>%"
--   condition Unused (informational)                -> ignored: Ready=True stays Healthy
--   phase Failed, or condition Degraded=True        -> Degraded "<reason>: <message>"
--   anything else                                   -> Progressing "<phase> <percent>%"

local function field(t, key)
  if type(t) ~= "table" then
    return nil
  end
  return t[key]
end

local function text(value)
  if value == nil or value == "" then
    return nil
  end
  return tostring(value)
end

local function condition(status, kind)
  local conditions = field(status, "conditions")
  if type(conditions) ~= "table" then
    return nil
  end
  for _, c in ipairs(conditions) do
    if field(c, "type") == kind then
      return c
    end
  end
  return nil
end

local function is_true(c)
  return field(c, "status") == "True"
end

-- "<reason>: <message>", either part alone, or nil when the condition says nothing. A reason
-- equal to `skip` (the phase, already in the message) is left out.
local function describe(c, skip)
  local reason = text(field(c, "reason"))
  local message = text(field(c, "message"))
  if reason == skip then
    reason = nil
  end
  if reason ~= nil and message ~= nil then
    return reason .. ": " .. message
  end
  return reason or message
end

local function join(head, tail)
  if tail == nil then
    return head
  end
  return head .. ": " .. tail
end

local hs = {}
local metadata = field(obj, "metadata")
local status = field(obj, "status")

if field(metadata, "deletionTimestamp") ~= nil then
  hs.status = "Progressing"
  hs.message = "Deleting"
  return hs
end

local generation = tonumber(field(metadata, "generation"))
local observed = tonumber(field(status, "observedGeneration"))
if type(status) ~= "table" or observed == nil or (generation ~= nil and observed < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator"
  return hs
end

local ready = condition(status, "Ready")
local degraded = condition(status, "Degraded")
local phase = text(field(status, "phase"))

if is_true(ready) then
  hs.status = "Healthy"
  hs.message = text(field(ready, "message")) or "Ready"
  return hs
end

if phase == "Paused" then
  hs.status = "Suspended"
  hs.message = text(field(ready, "message")) or "Paused"
  return hs
end

-- Why the object is not Ready: the failure if one is reported, else the Ready condition's reason.
local why = nil
if is_true(degraded) then
  why = describe(degraded)
end
if why == nil then
  why = describe(ready, phase)
end
if why == nil then
  why = text(field(field(status, "lastError"), "message"))
end

if phase ~= "Retrying" and (phase == "Failed" or is_true(degraded)) then
  hs.status = "Degraded"
  hs.message = why or phase or "Degraded"
  return hs
end

local summary = phase or "Pending"
local percent = field(field(status, "progress"), "percent")
if percent ~= nil then
  summary = summary .. " " .. tostring(percent) .. "%"
end
hs.status = "Progressing"
hs.message = join(summary, why)
return hs
