"""The DatabaseIndex status as a public API: a Report in, the status object out. Pure.

Conditions follow the Kubernetes convention (type/status/reason/message/lastTransitionTime/
observedGeneration); lastTransitionTime moves only when a condition's status flips.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

PENDING, WAITING, BUILDING, READY, RETRYING, FAILED, DELETING = (
    "Pending",
    "Waiting",
    "Building",
    "Ready",
    "Retrying",
    "Failed",
    "Deleting",
)
REPLACING, PAUSED, REINDEXING = "Replacing", "Paused", "Reindexing"
PHASES = (
    PENDING,
    WAITING,
    BUILDING,
    REPLACING,
    REINDEXING,
    READY,
    RETRYING,
    FAILED,
    PAUSED,
    DELETING,
)
_PROGRESSING_PHASES = frozenset(
    {PENDING, WAITING, BUILDING, REPLACING, REINDEXING, RETRYING, DELETING}
)
# The index exists, is valid and serves queries in these phases: status.health is kept.
HEALTHY_PHASES = frozenset({READY, REINDEXING})


@dataclasses.dataclass(frozen=True)
class Report:
    """What the reconciler concluded about one object, in user terms."""

    phase: str
    reason: str
    message: str
    attempts: int = 0
    index: Mapping[str, Any] | None = None
    progress: Mapping[str, Any] | None = None
    last_error: Mapping[str, Any] | None = None
    started_at: str | None = None
    completed_at: str | None = None
    retry_token: str | None = None
    managed: bool = False  # the operator owns the index: it built or adopted it
    last_drift: Mapping[str, Any] | None = None  # {time, found}: the last out-of-band change
    plan: Mapping[str, Any] | None = None  # spec.paused: {action, statements}
    next_window_start: str | None = None  # waiting for the maintenance window
    health: Mapping[str, Any] | None = None  # core/health.py: size, scans, bloat


def render(
    report: Report, *, generation: int, previous: Mapping[str, Any], now: str
) -> dict[str, Any]:
    ready = report.phase == READY
    degraded = report.phase == FAILED
    conditions = [
        _condition("Ready", ready, report, generation, previous, now),
        _condition(
            "Progressing", report.phase in _PROGRESSING_PHASES, report, generation, previous, now
        ),
        _condition("Degraded", degraded, report, generation, previous, now),
    ]
    if report.health is not None:
        conditions.append(_unused(report.health, generation, previous, now))
    status: dict[str, Any] = {
        "observedGeneration": generation,
        "phase": report.phase,
        "attempts": report.attempts,
        "conditions": conditions,
    }
    optional = {
        "index": report.index,
        "progress": report.progress,
        "lastError": report.last_error,
        "startedAt": report.started_at,
        "completedAt": report.completed_at,
        "retryToken": report.retry_token,
        "managed": True if report.managed else None,
        "lastDrift": report.last_drift,
        "plan": report.plan,
        "nextWindowStart": report.next_window_start,
        "health": (
            None
            if report.health is None
            else {k: v for k, v in report.health.items() if k != "unused"}
        ),
    }
    status.update({key: value for key, value in optional.items() if value is not None})
    return status


def merge_patch(new: Mapping[str, Any], old: Mapping[str, Any]) -> dict[str, Any] | None:
    """The JSON merge patch turning old into new, or None if equal."""
    if _comparable(new) == _comparable(old):
        return None
    return _merge_patch(new, old)


def newly_blocked(new: Mapping[str, Any], written: Mapping[str, Any]) -> bool:
    """True when `new` names a blocking PID the API server does not show yet: the one progress
    fact someone is waiting for at 3 a.m. (the build hangs; who holds it?), so it is written at
    once rather than on the next progress tick."""
    blocking = set((new.get("progress") or {}).get("blockingPids") or ())
    shown = set((written.get("progress") or {}).get("blockingPids") or ())
    return bool(blocking - shown)


def _merge_patch(new: Mapping[str, Any], old: Mapping[str, Any]) -> dict[str, Any]:
    """A merge patch merges objects key by key at every depth, so a key the new content no
    longer has (say progress.etaSeconds once the build is Ready) must be sent as null there too,
    or the API server keeps the stale value."""
    patch: dict[str, Any] = {key: None for key in old if key not in new}
    for key, value in new.items():
        before = old.get(key)
        if isinstance(value, Mapping) and isinstance(before, Mapping):
            patch[key] = _merge_patch(value, before)
        else:
            patch[key] = value
    return patch


def _comparable(status: Mapping[str, Any]) -> Mapping[str, Any]:
    return {key: value for key, value in status.items() if value is not None}


def condition(status: Mapping[str, Any], kind: str) -> Mapping[str, Any]:
    """The condition of that type in a status ({} when absent)."""
    for found in status.get("conditions") or ():
        if found.get("type") == kind:
            return found  # type: ignore[no-any-return]
    return {}


def _condition(
    kind: str,
    true: bool,
    report: Report,
    generation: int,
    previous: Mapping[str, Any],
    now: str,
) -> dict[str, Any]:
    value = "True" if true else "False"
    before = condition(previous, kind)
    changed = before.get("status") != value
    return {
        "type": kind,
        "status": value,
        "reason": report.reason,
        "message": report.message,
        "lastTransitionTime": now if changed else before.get("lastTransitionTime", now),
        "observedGeneration": generation,
    }


def _unused(
    health: Mapping[str, Any], generation: int, previous: Mapping[str, Any], now: str
) -> dict[str, Any]:
    """Informational: never Degraded, never unhealthy in Argo CD; a hint to a human."""
    unused = bool(health.get("unused"))
    value = "True" if unused else "False"
    before = condition(previous, "Unused")
    since = health.get("scansUnchangedSince")
    return {
        "type": "Unused",
        "status": value,
        "reason": "NoScans" if unused else "Scanned",
        "message": (
            f"no index scans since {since} ({health.get('scans', 0)} in all since "
            f"{health.get('scansSince')}): the index costs writes and serves no reads"
            if unused
            else f"{health.get('scans', 0)} scans since {health.get('scansSince')}"
        ),
        "lastTransitionTime": now
        if before.get("status") != value
        else before.get("lastTransitionTime", now),
        "observedGeneration": generation,
    }
