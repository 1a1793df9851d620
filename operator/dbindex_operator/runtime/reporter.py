"""Reporter: the one way out to users. Status goes to the coalescing StatusWriter, Events to the
API server in the background; what a plan decision or an executor concluded becomes a
status.Report here, so every status has one shape."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from typing import Any

from dbindex_operator.core import catalog, errors, partitions, plan, policy, progress, status
from dbindex_operator.core import spec as specs
from dbindex_operator.runtime import kube, tracking, writer


class Reporter:
    def __init__(self, client: kube.Client, status_writer: writer.StatusWriter) -> None:
        self._client = client
        self.writer = status_writer
        self._events: set[asyncio.Task[None]] = set()

    async def close(self) -> None:
        await asyncio.gather(*self._events, return_exceptions=True)

    # -- events -----------------------------------------------------------------------------------

    def event(self, tracked: tracking.Tracked, kind: str, reason: str, message: str) -> None:
        self.event_for(tracked.ref, kind, reason, message)

    def event_for(self, ref: Mapping[str, str], kind: str, reason: str, message: str) -> None:
        task = asyncio.create_task(self._client.post_event(ref, kind, reason, message))
        self._events.add(task)
        task.add_done_callback(self._events.discard)

    # -- status -----------------------------------------------------------------------------------

    def report(
        self,
        tracked: tracking.Tracked,
        phase: str,
        reason: str,
        message: str,
        *,
        index: Mapping[str, Any] | None = None,
        progress: Mapping[str, Any] | None = None,
        plan: Mapping[str, Any] | None = None,
        next_window: str | None = None,
    ) -> None:
        tracked.last_reason = reason
        report = status.Report(
            phase=phase,
            reason=reason,
            message=message,
            attempts=tracked.attempts,
            index=index if index is not None else tracked.status.get("index"),
            progress=progress,
            last_error=tracked.last_error,
            started_at=tracked.started_at,
            completed_at=tracked.completed_at,
            retry_token=tracked.retry_token,
            managed=tracked.managed,
            last_drift=tracked.last_drift,
            plan=plan,
            next_window_start=next_window,
            health=_health(tracked) if phase in status.HEALTHY_PHASES else None,
        )
        # Most passes conclude what the last one did: skip rendering and comparing the status.
        if tracked.last_report == (tracked.generation, report):
            return
        tracked.last_report = (tracked.generation, report)
        self.writer.submit(tracked, report)

    def refresh(self, tracked: tracking.Tracked) -> None:
        """The last report again with the object's newest health (a health pass)."""
        if tracked.last_report is None or tracked.last_report[1].phase not in status.HEALTHY_PHASES:
            return
        generation, report = tracked.last_report
        fresh = dataclasses.replace(report, health=_health(tracked))
        if fresh != report:
            tracked.last_report = (generation, fresh)
            self.writer.submit(tracked, fresh)

    def connection_problem(
        self, tracked: tracking.Tracked, exc: errors.ConnectionProblem, delay: float
    ) -> None:
        """The database or its Secret cannot be reached; a Ready index stays Ready."""
        if policy.survives_connection_problem(tracked.status.get("phase")):
            return
        if tracked.last_reason != exc.reason:
            self.event(tracked, "Warning", exc.reason, exc.message)
        self.report(
            tracked, status.WAITING, exc.reason, f"{exc.message} (retrying in {delay:.0f}s)"
        )

    def decision(
        self, tracked: tracking.Tracked, action: plan.Action, state: catalog.IndexState
    ) -> bool:
        """Report a decision that needs no executor. Returns whether to look again soon."""
        spec = tracked.spec
        assert spec is not None
        if isinstance(action, plan.Ready):
            previous = tracked.status.get("phase")
            reason = policy.ready_reason(
                adopted=action.adopted,
                previous_phase=previous,
                previous_reason=status.condition(tracked.status, "Ready").get("reason"),
            )
            if policy.announces_adoption(adopted=action.adopted, previous_phase=previous):
                self.event(
                    tracked,
                    "Normal",
                    "Adopted",
                    f"adopted the existing valid index {spec.schema}.{spec.name}",
                )
            tracked.next_attempt_at = 0.0
            tracked.managed = True  # from now on a difference is ours to replace (updatePolicy)
            self.report(
                tracked,
                status.READY,
                reason,
                f"index {spec.schema}.{spec.name} is valid",
                index=index_status(spec, state, valid=True),
                progress=_done(spec, state),
            )
            return False
        if isinstance(action, plan.WatchForeignBuild):
            row = action.progress
            tracked.percent = progress.percent(row, tracked.percent)
            self.report(
                tracked,
                status.BUILDING,
                "BuildInProgressElsewhere",
                f"backend {row.pid} is building this index; waiting for it to finish",
                index=index_status(spec, state, valid=False),
                progress=progress_status(row, tracked.percent),
            )
            return True
        if isinstance(action, plan.Paused):
            self.report(
                tracked,
                status.PAUSED,
                "Paused",
                f"spec.paused: would {_describe(action.action)}; nothing is executed",
                plan={
                    "action": type(action.action).__name__,
                    "statements": list(action.statements),
                },
            )
            return False
        if isinstance(action, plan.Fail):
            if action.reason == "DefinitionMismatch" and tracked.mismatch_token is None:
                tracked.mismatch_token = (tracked.retry_token,)  # Manual: a new value approves
            if tracked.last_reason != action.reason:
                self.event(tracked, "Warning", action.reason, action.message)
            self.report(
                tracked,
                status.FAILED,
                action.reason,
                action.message,
                index=index_status(spec, state, valid=state.valid) if state.index_exists else None,
            )
            return False
        assert isinstance(action, plan.Wait), action
        if action.reason == "TableLocked" and policy.survives_connection_problem(
            tracked.status.get("phase")
        ):
            return True  # a brief ALTER TABLE does not make a Ready index any less there
        self.report(
            tracked, action.phase, action.reason, action.message, next_window=action.next_window
        )
        return action.next_window is None  # a window's opening is scheduled, not polled


def _health(tracked: tracking.Tracked) -> dict[str, Any] | None:
    """The health to report: the status' own when a look found the same facts (only `checkedAt`
    moved), so a health pass, and every restart's first one, rewrites no status. `checkedAt` in
    status is then when the facts last changed or were last written."""
    found, written = tracked.health, tracked.status.get("health")
    if found is not None and isinstance(written, dict) and _stamped(found) == _stamped(written):
        return {**written, "unused": found.get("unused")}  # `unused` lives in a condition
    return found


def _stamped(found: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in found.items() if key not in ("checkedAt", "unused")}


def _done(spec: specs.IndexSpec, state: catalog.IndexState) -> dict[str, Any]:
    if not state.partitions:
        return {"percent": 100}
    done, total, _, _ = partitions.counts(spec, state.partitions)
    return {"percent": 100, "partitionsDone": done, "partitionsTotal": total}


def _describe(action: plan.Action) -> str:
    words = {
        "Build": "build the index",
        "DropLeftover": "drop an INVALID leftover",
        "BuildReplacement": "replace the index (build the new definition, swap, drop the old)",
        "DropReplacement": "drop a stale replacement",
        "Swap": "swap in the replacement and drop the old index",
        "DropRetired": "drop the retired old index",
        "Reindex": "rebuild the index with REINDEX INDEX CONCURRENTLY",
        "Verify": "check the index with amcheck's bt_index_check",
        "DropReindexLeftover": "drop an INVALID copy a dead REINDEX CONCURRENTLY left",
    }
    return words.get(type(action).__name__, type(action).__name__)


def index_status(
    spec: specs.IndexSpec, state: catalog.IndexState, *, valid: bool
) -> dict[str, Any]:
    index: dict[str, Any] = {"schema": spec.schema, "name": spec.name, "valid": valid}
    if state.definition:
        index["definition"] = state.definition
    tablespace = (state.signature or {}).get("tablespace")
    if tablespace:
        index["tablespace"] = tablespace
    return index


def progress_status(row: catalog.Progress, percent: int) -> dict[str, Any]:
    current, blocking = progress.blockers(row)
    result: dict[str, Any] = {"phase": progress.phase_text(row), "percent": percent}
    result.update(progress.counters(row))
    if blocking:
        result["blockingPids"] = blocking
    if current:
        result["currentLockerPid"] = current
    result["updatedAt"] = tracking.now_iso_precise()
    return result
