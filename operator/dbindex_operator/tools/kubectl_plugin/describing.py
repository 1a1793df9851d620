"""Pure rendering for `kubectl dbindex describe`: why the object is where it is. Conditions, the
last error with its SQLSTATE and what it means, the last events, and the exact SQL the operator
ran or will run, rendered by the operator's own core/spec.py + core/sql.py (never re-written
here), or status.plan while paused."""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any, Final

from dbindex_operator.core import errors, settings, sql
from dbindex_operator.core import spec as specs
from dbindex_operator.core import status as statuses
from dbindex_operator.tools.kubectl_plugin import rendering

LAST_EVENTS: Final = 10

# What a SQLSTATE means for an index build and what to do about it (POSTGRES.md's table).
SQLSTATES: Final[dict[str, str]] = {
    "23505": "unique_violation: the table has rows with equal keys, so a UNIQUE index cannot "
    "exist. Remove the duplicates (or drop `unique`), then `kubectl dbindex retry`.",
    "57014": "query_canceled: statement_timeout, a cancel request or pg_cancel_backend(). "
    "Retried with backoff; raise spec.build.statementTimeout if builds need longer.",
    "55P03": "lock_not_available: lock_timeout expired waiting for a lock (also while waiting "
    "for old snapshots). Retried; a long transaction on the database is the usual cause.",
    "40P01": "deadlock_detected: another session queued a lock on the table during the build. "
    "Retried with backoff.",
    "40001": "serialization_failure. Retried with backoff.",
    "57P01": "admin_shutdown: the backend was terminated (pg_terminate_backend or a server "
    "shutdown). Retried with backoff.",
    "57P02": "crash_shutdown: the server crashed. Retried with backoff.",
    "57P03": "cannot_connect_now: the server is starting. Retried with backoff.",
    "53100": "disk_full: free space on the database server; retried with backoff.",
    "53200": "out_of_memory: lower spec.build.maintenanceWorkMem or parallelWorkers.",
    "53300": "too_many_connections: retried with backoff.",
    "42703": "undefined_column: a column in columns/include/where does not exist. Fix the "
    "spec or the table.",
    "42704": "undefined_object: an opclass, collation or tablespace does not exist.",
    "42501": "insufficient_privilege: the role needs CREATE on the schema and must own the table.",
    "42P17": "invalid_object_definition: e.g. a function in the expression is not IMMUTABLE.",
    "0A000": "feature_not_supported by this PostgreSQL for this index definition.",
}
SQLSTATE_CLASSES: Final[dict[str, str]] = {
    "08": "connection exception: the connection broke; retried with backoff.",
    "22": "data exception: evaluating the expression or predicate failed on some row (e.g. "
    "division by zero). Fix the data or the expression; not retried.",
    "23": "integrity constraint violation; not retried.",
    "42": "syntax error or access rule violation in the definition; not retried.",
    "53": "insufficient resources on the server; retried with backoff.",
    "57": "operator intervention (cancel, terminate, shutdown); retried with backoff.",
}


def sqlstate_meaning(sqlstate: str | None) -> str:
    if not sqlstate:
        return "no SQLSTATE: the connection was lost during the build; retried with backoff."
    if sqlstate in SQLSTATES:
        return SQLSTATES[sqlstate]
    retry = "retried with backoff" if errors.is_retryable_sqlstate(sqlstate) else "not retried"
    return SQLSTATE_CLASSES.get(sqlstate[:2], f"SQLSTATE class {sqlstate[:2]}; {retry}.")


def statements(obj: Mapping[str, Any]) -> tuple[str, list[str]]:
    """(heading, SQL lines): status.plan's statements while paused, else the build statement the
    operator runs for this spec, after the session settings it sends with the connection."""
    status = obj.get("status") or {}
    plan = status.get("plan") or {}
    if status.get("phase") == statuses.PAUSED and plan.get("statements"):
        return (
            f"SQL it will run when unpaused ({plan.get('action', '?')})",
            [f"{s};" if not s.rstrip().endswith(";") else s for s in plan["statements"]],
        )
    name = str((obj.get("metadata") or {}).get("name") or "")
    try:
        spec = specs.parse(obj.get("spec") or {}, object_name=name)
    except errors.SpecError as exc:
        return "SQL: none, the spec is invalid", [f"-- {exc.message}"]
    defaults = settings.Settings()
    session = sql.session_settings(
        spec.build,
        schema=spec.schema,
        check_interval=defaults.check_interval,
        application_name=defaults.application_name,
    )
    lines = [f"SET {key} = {sql.literal(value)};" for key, value in session.items()]
    lines.append(sql.create_index(spec) + ";")
    phase = status.get("phase")
    when = "ran" if phase in (statuses.READY, statuses.FAILED) else "runs"
    if (status.get("progress") or {}).get("partitionsTotal") is not None:
        lines.append(
            "-- on a partitioned table: ON ONLY on each partitioned table, this statement on "
            "each leaf partition under a derived name, then ATTACH PARTITION"
        )
    return f"SQL the operator {when} (session settings, then the build)", lines


def describe(
    obj: Mapping[str, Any], events: Sequence[Mapping[str, Any]], now: datetime.datetime
) -> str:
    metadata = obj.get("metadata") or {}
    status = obj.get("status") or {}
    line = rendering.row(obj, now)
    index = status.get("index") or {}
    out = [
        f"Name:        {metadata.get('namespace')}/{metadata.get('name')}",
        f"Index:       {_index(obj, index)}",
        f"Phase:       {line.phase}" + (f" ({line.reason})" if line.reason else ""),
        f"Message:     {line.message or rendering.NONE}",
        f"Attempts:    {line.attempts}",
        f"Progress:    {rendering.bar(line.percent)} {line.percent}%"
        + (f"  {line.pg_phase}" if line.pg_phase else "")
        + (f"  ETA {rendering.duration(line.eta_seconds)}" if line.eta_seconds else ""),
    ]
    if line.blocking_pids:
        out.append(f"Blocked by:  PIDs {rendering.blocking(line)}")
    if line.partitions_total is not None:
        out.append(f"Partitions:  {rendering.partitions(line)}")
    if status.get("observedGeneration") != metadata.get("generation"):
        out.append(
            f"Generation:  {metadata.get('generation')} "
            f"(status is of {status.get('observedGeneration', 'none')}: not yet seen)"
        )
    out += ["", "Conditions:"]
    conditions = status.get("conditions") or []
    if not conditions:
        out.append("  none yet: the operator has not reported on this object")
    for condition in conditions:
        since = rendering.parse_time(condition.get("lastTransitionTime"))
        age = rendering.duration(int((now - since).total_seconds())) if since else "?"
        out.append(
            f"  {condition.get('type', '?'):<12} {condition.get('status', '?'):<6} "
            f"{condition.get('reason', ''):<26} {age:>7}  {condition.get('message', '')}"
        )
    error = status.get("lastError")
    if error:
        out += [
            "",
            "Last error:",
            f"  SQLSTATE {error.get('sqlstate') or 'none'} at {error.get('time', '?')}: "
            f"{error.get('message', '')}",
            f"  means: {sqlstate_meaning(error.get('sqlstate'))}",
        ]
    out += ["", f"Events (last {LAST_EVENTS}):", *_events(events, now)]
    heading, lines = statements(obj)
    out += ["", f"{heading}:", *(f"  {s}" for s in lines)]
    return "\n".join(out) + "\n"


def _index(obj: Mapping[str, Any], index: Mapping[str, Any]) -> str:
    spec = obj.get("spec") or {}
    if index:
        valid = "valid" if index.get("valid") else "INVALID"
        return f"{index.get('schema')}.{index.get('name')} ({valid})"
    name = spec.get("name") or specs.default_index_name(
        str((obj.get("metadata") or {}).get("name") or "")
    )
    return f"{spec.get('schema', 'public')}.{name} (not seen yet) on {spec.get('table', '?')}"


def _when(event: Mapping[str, Any]) -> datetime.datetime | None:
    for key in ("lastTimestamp", "eventTime", "firstTimestamp"):
        found = rendering.parse_time(event.get(key))
        if found is not None:
            return found
    return rendering.parse_time((event.get("metadata") or {}).get("creationTimestamp"))


def _events(events: Sequence[Mapping[str, Any]], now: datetime.datetime) -> list[str]:
    if not events:
        return ["  none"]
    epoch = datetime.datetime.min.replace(tzinfo=datetime.UTC)
    newest = sorted(events, key=lambda e: _when(e) or epoch)[-LAST_EVENTS:]
    lines = []
    for event in newest:
        when = _when(event)
        age = rendering.duration(int((now - when).total_seconds())) if when else "?"
        lines.append(
            f"  {age:>7}  {event.get('type', ''):<8} {event.get('reason', ''):<22} "
            f"{event.get('message', '')}"
        )
    return lines
