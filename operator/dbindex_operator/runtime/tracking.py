"""Tracked: what the operator remembers about one DatabaseIndex between catalog reads.

Only what the catalog cannot tell: our own attempts, backoff, a permanent failure, the build task
in flight, the status last written. Seeded from the object's status so a restart keeps counting.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
from collections.abc import Collection, Mapping
from typing import Any

from dbindex_operator.core import errors, partitions, plan, policy, settings, windows
from dbindex_operator.core import spec as specs
from dbindex_operator.core import status as status_api

ObjectKey = tuple[str, str]  # namespace, name


def now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_iso_precise() -> str:
    """Milliseconds, for progress.updatedAt: its age is how fresh the progress is."""
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


@dataclasses.dataclass(eq=False)
class Job:
    """Work in flight for one object: an executor's run (runtime/executors)."""

    kind: str
    polls_progress: bool = False
    task: asyncio.Task[None] | None = None
    backend_pid: int | None = None  # the session running the DDL, once known
    cancelled: bool = False
    executor: Any = None  # the executors.base.Executor doing it (progress rows go to it)

    def set_backend(self, pid: int) -> None:
        self.backend_pid = pid

    def cancel(self) -> None:
        if self.task is not None and not self.cancelled:
            self.cancelled = True
            self.task.cancel()


@dataclasses.dataclass(eq=False)
class Deletion:
    """The object is being deleted (phase Deleting). Only the catalog says what is left to do,
    so a restart at any step resumes; this holds what the Kopf handler waits on."""

    started_at: float  # loop time the deletion began (Kopf's elapsed time taken off)
    done: asyncio.Future[policy.Release]
    was_building: bool = False

    def finish(self, release: policy.Release) -> None:
        if not self.done.done():
            self.done.set_result(release)


@dataclasses.dataclass(eq=False)
class Tracked:
    namespace: str
    name: str
    uid: str
    generation: int
    retry_token: str | None
    spec: specs.IndexSpec | None
    spec_error: str | None
    status: dict[str, Any]  # the newest status we rendered (or read)
    written: dict[str, Any]  # the status the API server has, as far as we know
    attempts: int = 0
    failed: plan.Fail | None = None
    last_error: dict[str, Any] | None = None
    next_attempt_at: float = 0.0  # loop time
    desired: Mapping[str, Any] | None = None
    built_here: bool = False
    job: Job | None = None  # a build, drop or definition check in flight
    deletion: Deletion | None = None
    health: dict[str, Any] | None = None  # status.health (core/health.py, core/maintenance.py)
    maintenance_after: float = 0.0  # loop time a failed reindex/verify/leftover drop may rerun
    maintenance_failures: int = 0  # consecutive failed maintenance steps (their backoff)
    window_opens_at: float = 0.0  # loop time its maintenance window opens (it waits for it)
    probe_failures: int = 0  # consecutive transient failures of the definition check
    definition_error: plan.Fail | None = None  # PostgreSQL rejected the definition
    managed: bool = False  # the index was Ready under this object (status.managed)
    mismatch_token: tuple[str | None] | None = None  # retry token when Manual was reported
    last_drift: dict[str, Any] | None = None
    # Per leaf partition (table oid): attempts, and a permanent failure or the next attempt time.
    partition_attempts: dict[int, int] = dataclasses.field(default_factory=dict)
    partition_retry: dict[int, tuple[plan.Fail | None, float]] = dataclasses.field(
        default_factory=dict
    )
    percent: int = 0
    started_at: str | None = None
    completed_at: str | None = None
    last_reason: str | None = None
    last_report: tuple[int, Any] | None = None  # (generation, status.Report) last submitted
    patched_at: float = -1e9
    pending_since: float = 0.0  # loop time a status write became pending (writer.py)
    decided: tuple[Any, ...] | None = None  # what the decision that left it at rest read

    @property
    def key(self) -> ObjectKey:
        return self.namespace, self.name

    @property
    def ref(self) -> dict[str, str]:
        return {"namespace": self.namespace, "name": self.name, "uid": self.uid}

    @property
    def label(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def settled(self) -> bool:
        """Its status already answers this generation and retry request: Ready or Failed."""
        return (
            self.status.get("phase") in ("Ready", "Failed")
            and self.status.get("observedGeneration") == self.generation
            and self.status.get("retryToken") == self.retry_token
        )

    @property
    def at_rest(self) -> bool:
        """Settled, and nothing scheduled for it: no deletion, job, retry, window to wait for,
        maintenance policy or failed maintenance step. Only the catalog can change what a pass
        concludes for it, so a pass woken by other objects skips it; the resync pass (every
        DBINDEX_RESYNC_INTERVAL) does not, and finds drift as before."""
        return (
            self.settled
            and self.deletion is None
            and self.job is None
            and self.next_attempt_at == 0.0
            and self.window_opens_at == 0.0
            and self.maintenance_after == 0.0
            and self.spec is not None
            and self.spec.maintenance is None
        )

    def reset_history(self) -> None:
        """A new generation or retry token: forget failures and backoff, start counting again."""
        self.attempts = 0
        self.failed = None
        self.next_attempt_at = 0.0
        self.desired = None
        self.last_error = None
        self.probe_failures = 0
        self.definition_error = None
        self.partition_attempts.clear()
        self.partition_retry.clear()

    def history(self, now: float) -> plan.History:
        """What plan.decide needs to know beyond the catalog, at loop time `now`."""
        return plan.History(
            failed=self.failed,
            retry_in=max(self.next_attempt_at - now, 0.0),
            last_error=(self.last_error or {}).get("message"),
            built_here=self.built_here,
            definition_error=self.definition_error,
            managed=self.managed,
            was_ready=self.was_ready,
            approved=self.approved,
            partition_retries={
                oid: partitions.Retry(failed, max(at - now, 0.0))
                for oid, (failed, at) in self.partition_retry.items()
            },
            health=self.health,
            maintenance_in=max(self.maintenance_after - now, 0.0),
        )

    @property
    def was_ready(self) -> bool:
        """Ready at this generation, as far as the status we wrote says."""
        return (
            self.status.get("phase") in status_api.HEALTHY_PHASES
            and self.status.get("observedGeneration") == self.generation
        )

    @property
    def approved(self) -> bool:
        """updatePolicy Manual: a new retry annotation value since the mismatch was reported."""
        return self.mismatch_token is not None and self.mismatch_token != (self.retry_token,)

    def wait_for_window(
        self,
        action: plan.Action,
        window: windows.Policy | None,
        now: datetime.datetime,
        clock: float,
    ) -> None:
        """No polling all night: when `action` waits for the maintenance window, the next look at
        the object is when the window opens (`clock`: the loop time of `now`)."""
        self.window_opens_at = 0.0
        if isinstance(action, plan.Wait) and action.next_window and window is not None:
            wait = (window.next_start(now) - now).total_seconds()
            self.window_opens_at = clock + max(wait, 0.0) + 0.5

    @property
    def building(self) -> bool:
        return self.job is not None and self.job.polls_progress


def unchanged(known: Tracked, meta: Mapping[str, Any]) -> bool:
    """The same object at the same generation and retry request: nothing for the fleet to do."""
    return (
        known.uid == meta.get("uid", "")
        and known.generation == int(meta.get("generation") or 1)
        and known.retry_token == (meta.get("annotations") or {}).get(settings.RETRY_ANNOTATION)
    )


def from_body(body: Mapping[str, Any]) -> Tracked:
    meta = body["metadata"]
    generation = int(meta.get("generation") or 1)
    token = (meta.get("annotations") or {}).get(settings.RETRY_ANNOTATION)
    parsed: specs.IndexSpec | None = None
    problem: str | None = None
    try:
        parsed = specs.parse(body.get("spec") or {}, object_name=meta["name"])
    except errors.SpecError as exc:
        problem = exc.message
    status = dict(body.get("status") or {})
    tracked = Tracked(
        namespace=meta["namespace"],
        name=meta["name"],
        uid=meta.get("uid", ""),
        generation=generation,
        retry_token=token,
        spec=parsed,
        spec_error=problem,
        status=status,
        written=status,  # one dict for both until a write: neither is changed in place
    )
    tracked.managed = bool(status.get("managed"))
    tracked.last_drift = status.get("lastDrift")
    tracked.health = status.get("health")
    if status.get("phase") == "Failed" and (
        status_api.condition(status, "Degraded").get("reason") == "DefinitionMismatch"
    ):
        tracked.mismatch_token = (status.get("retryToken"),)
    same_request = (
        status.get("observedGeneration") == generation and status.get("retryToken") == token
    )
    if same_request:
        # Carry our own history across restarts: attempts, and a permanent build failure.
        tracked.attempts = int(status.get("attempts") or 0)
        tracked.last_error = status.get("lastError")
        tracked.started_at = status.get("startedAt")
        tracked.completed_at = status.get("completedAt")
        degraded = status_api.condition(status, "Degraded")
        if status.get("phase") == "Failed" and degraded.get("reason") == "BuildFailed":
            tracked.failed = plan.Fail("BuildFailed", degraded.get("message", ""))
    return tracked


def next_due(objects: Collection[Tracked], now: float) -> float | None:
    """The soonest loop time (not before `now`) one of these objects asks to be looked at
    again: a retry, a maintenance window opening, the rerun of a failed maintenance step."""
    due = [at for t in objects for at in (t.next_attempt_at, t.window_opens_at) if at > 0]
    # A maintenance rerun time stays set until the step succeeds: only a future one wakes us
    # (one in the past, outside the window, would be a hot loop).
    due += [t.maintenance_after for t in objects if t.maintenance_after > now]
    return max(min(due), now) if due else None
