"""The executor interface: how the scheduler runs one kind of work on one object.

An executor is made for one object and one piece of work. The scheduler calls, in order:
  start()       at once, synchronously: report that the work begins (status, Event, counters);
  run(job)      in its own task: the work itself, raising errors.BuildFailure when it fails;
  progress(row) while it runs, for executors that poll pg_stat_progress_create_index;
  outcome(...)  when run returned or failed (never when cancelled): account for it through
                core/policy.py and report it.
launch() owns that sequence, the task, and the release of whatever the scheduler reserved.
Executors decide nothing about *whether* to act: core/plan.py did, from the catalog.

launch() puts every DDL session of the work under a runtime/guard.Guard: our finalizer on the
object, confirmed by the API server (runtime/holding.py: no DDL for an object whose deletion
would not wait for us; launch() starts adding it at once, so that it overlaps the connection),
the index's advisory lock, and the catalog re-read under it against the state the decision was
made from (core/locks.py). A work that abstains ran nothing: it gets no outcome, its attempt is
not counted, and the object is decided again after ABSTAIN_PAUSE seconds.
"""

from __future__ import annotations

import abc
import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from dbindex_operator.core import catalog, errors, locks, settings, status
from dbindex_operator.runtime import db, guard, reporter, tracking

logger = logging.getLogger(__name__)
ABSTAIN_PAUSE = 2.0  # seconds: no hot loop while another session holds the index's lock


@dataclasses.dataclass(frozen=True)
class Context:
    """What executors may use: one database, the settings, the reporter, the loop clock, and
    `hold`: our finalizer on an object, confirmed (False: it is going; runtime/holding.py)."""

    params: db.ConnectParams
    pool: Any
    config: settings.Settings
    reporter: reporter.Reporter
    clock: Callable[[], float]
    hold: Callable[[tracking.Tracked], Awaitable[bool]]


@dataclasses.dataclass(frozen=True)
class Outcome:
    """How run() ended: its return value, or the failure; and how long it took."""

    value: Any = None
    failure: errors.BuildFailure | None = None
    took: float = 0.0


class Executor(abc.ABC):
    kind: ClassVar[str]
    needs_slot: ClassVar[bool] = True  # DDL: one per table, DBINDEX_BUILD_CONCURRENCY per db
    polls_progress: ClassVar[bool] = False

    def __init__(self, ctx: Context, tracked: tracking.Tracked) -> None:
        assert tracked.spec is not None
        self.ctx = ctx
        self.tracked = tracked
        self.spec = tracked.spec
        self.slot_table: int | None = None  # the table whose slot it takes; None: the object's

    def start(self) -> None:  # noqa: B027  (optional hook)
        """Report that the work begins. Default: nothing to say."""

    @abc.abstractmethod
    async def run(self, job: tracking.Job) -> Any:
        """Do the work. Raise errors.BuildFailure when it fails."""

    def progress(self, row: catalog.Progress) -> None:  # noqa: B027  (optional hook)
        """A progress row for job.backend_pid (only when polls_progress)."""

    @abc.abstractmethod
    def outcome(self, result: Outcome) -> None:
        """Account for how the work ended and report it."""


def launch(
    executor: Executor,
    on_exit: Callable[[], None],
    decided: catalog.IndexState | None = None,
) -> tracking.Job:
    """Start executor's work for its object; `on_exit` runs when it ends in any way (release the
    slot, wake the scheduler). A cancelled job gets no outcome: whoever cancelled it decides
    again from the catalog. `decided`: the catalog state the work was decided from, re-checked
    under the lock before its first DDL (None: only the lock)."""
    tracked = executor.tracked
    job = tracking.Job(
        kind=executor.kind, polls_progress=executor.polls_progress, executor=executor
    )
    spec = executor.spec
    lock = guard.Guard(executor.ctx.params, (spec.schema, spec.table, spec.name), decided)
    if executor.needs_slot and tracked.deletion is None:
        lock.held = asyncio.ensure_future(executor.ctx.hold(tracked))
    counted = (tracked.attempts, dict(tracked.partition_attempts))
    executor.start()

    async def work() -> None:
        db.GUARD.set(lock)  # this task's context only
        started = time.monotonic()
        try:
            try:
                value = await executor.run(job)
            except locks.Abstained as abstained:
                tracked.attempts, tracked.partition_attempts = counted
                job.backend_pid = None
                _abstained(executor, abstained)
                await asyncio.sleep(ABSTAIN_PAUSE)
                return
            except errors.BuildFailure as failure:
                result = Outcome(failure=failure, took=time.monotonic() - started)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug: say so, and let the retry rules handle it
                logger.exception("%s: %s failed unexpectedly", tracked.label, executor.kind)
                bug = errors.BuildFailure(None, f"internal error: {db.describe_error(exc)}")
                result = Outcome(failure=bug, took=time.monotonic() - started)
            else:
                result = Outcome(value=value, took=time.monotonic() - started)
            job.backend_pid = None
            executor.outcome(result)
        finally:
            if lock.held is not None and not lock.held.done():
                lock.held.cancel()  # the work ended before any DDL; nothing needs it now
            if tracked.job is job:
                tracked.job = None
            on_exit()

    tracked.job = job
    job.task = asyncio.create_task(work(), name=f"{executor.kind}:{tracked.label}")
    return job


def _abstained(executor: Executor, abstained: locks.Abstained) -> None:
    tracked, reason = executor.tracked, abstained.reason
    logger.info("%s: %s not run: %s", tracked.label, executor.kind, reason)
    if tracked.deletion is None and not abstained.quiet:
        executor.ctx.reporter.report(
            tracked, status.PENDING, "Abstained", f"{executor.kind} not run: {reason}"
        )
