"""Maintenance of a Ready index (core/maintenance.py decides which): REINDEX INDEX CONCURRENTLY
with progress (phase Reindexing), amcheck verification, and the drop of an INVALID copy a dead
reindex left. The index stays valid and serves queries throughout, so a failure here never makes
the object Failed: it is reported (Event, status.lastError) and tried again after a backoff."""

from __future__ import annotations

import datetime
import logging

from dbindex_operator.core import catalog, errors, maintenance, progress, status
from dbindex_operator.runtime import ddl, reporter, tracking
from dbindex_operator.runtime.executors import base, drop

logger = logging.getLogger(__name__)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class _Step(base.Executor):
    """What the maintenance steps share: a failure holds maintenance back with backoff."""

    def _failed(self, what: str, failure: errors.BuildFailure) -> None:
        tracked = self.tracked
        tracked.maintenance_failures += 1
        delay = self.spec.retry.delay(tracked.maintenance_failures)
        tracked.maintenance_after = self.ctx.clock() + delay
        tracked.last_error = {
            "sqlstate": failure.sqlstate or "",
            "message": failure.message,
            "time": tracking.now_iso(),
        }
        logger.warning("%s: %s failed: %s (again in %.0fs)", tracked.label, what, failure, delay)

    def _succeeded(self) -> None:
        self.tracked.maintenance_failures = 0
        self.tracked.maintenance_after = 0.0


class Reindex(_Step):
    """REINDEX INDEX CONCURRENTLY: one per table and within the database's build concurrency
    (it takes a build slot), progress polled like a build's."""

    kind = "reindex"
    polls_progress = True

    def __init__(self, ctx: base.Context, tracked: tracking.Tracked, reason: str, why: str) -> None:
        super().__init__(ctx, tracked)
        self.reason = reason  # IndexBloated or IndexCorrupt
        self.why = why
        self.size_before = (tracked.health or {}).get("sizeBytes")

    def start(self) -> None:
        tracked, spec = self.tracked, self.spec
        tracked.percent = 0
        logger.info("%s: reindexing %s.%s: %s", tracked.label, spec.schema, spec.name, self.why)
        self.ctx.reporter.report(
            tracked,
            status.REINDEXING,
            self.reason,
            f"REINDEX INDEX CONCURRENTLY: {self.why}",
            progress={"percent": 0, "phase": "initializing", "updatedAt": tracking.now_iso()},
        )

    async def run(self, job: tracking.Job) -> None:
        await ddl.reindex(self.ctx.params, self.spec, self.ctx.config, job.set_backend)

    def progress(self, row: catalog.Progress) -> None:
        tracked = self.tracked
        tracked.percent = progress.percent(row, tracked.percent)
        _, blocking = progress.blockers(row)
        waiting = f"; blocked by {', '.join(map(str, blocking))}" if blocking else ""
        self.ctx.reporter.report(
            tracked,
            status.REINDEXING,
            self.reason,
            f"REINDEX INDEX CONCURRENTLY: {progress.phase_text(row)}{waiting} ({self.why})",
            progress=reporter.progress_status(row, tracked.percent),
        )

    def outcome(self, result: base.Outcome) -> None:
        tracked, spec = self.tracked, self.spec
        index = f"{spec.schema}.{spec.name}"
        if result.failure is not None:
            self._failed("REINDEX CONCURRENTLY", result.failure)
            self.ctx.reporter.event(
                tracked,
                "Warning",
                "ReindexFailed",
                f"REINDEX INDEX CONCURRENTLY {index} failed: {result.failure}; the index is "
                "unchanged and still valid, its leftover copy is dropped",
            )
            return
        self._succeeded()
        tracked.health = maintenance.after_reindex(tracked.health, reason=self.reason, now=_now())
        before = "" if self.size_before is None else f" (it was {self.size_before} bytes)"
        self.ctx.reporter.event(
            tracked,
            "Normal",
            "Reindexed",
            f"REINDEX INDEX CONCURRENTLY {index} finished in {result.took:.1f}s{before}: "
            f"{self.why}",
        )
        # Ready again, with the new size, comes from the catalog at the pass this wakes.


class Verify(_Step):
    """amcheck's bt_index_check(index, heapallindexed): a corrupt index is reindexed next."""

    kind = "verify"

    async def run(self, job: tracking.Job) -> bool:
        spec = self.spec
        return await ddl.verify(
            self.ctx.params, spec.schema, spec.name, self.ctx.config, spec.build.lock_timeout
        )

    def outcome(self, result: base.Outcome) -> None:
        tracked, spec = self.tracked, self.spec
        index = f"{spec.schema}.{spec.name}"
        failure = result.failure
        if failure is not None and failure.sqlstate not in maintenance.CORRUPTION_SQLSTATES:
            self._failed("amcheck verification", failure)
            return
        self._succeeded()
        if failure is not None:
            verdict, message = (
                maintenance.CORRUPT,
                f"{failure.message} (SQLSTATE {failure.sqlstate})",
            )
            logger.error("%s: %s is corrupt: %s", tracked.label, index, message)
            self.ctx.reporter.event(
                tracked,
                "Warning",
                "IndexCorrupt",
                f"amcheck found {index} corrupt: {message}; rebuilding it with REINDEX "
                "CONCURRENTLY",
            )
        elif result.value:
            verdict, message = maintenance.PASSED, f"bt_index_check passed in {result.took:.1f}s"
        else:
            verdict, message = maintenance.UNAVAILABLE, "the amcheck extension is not installed"
        tracked.health = maintenance.after_verify(
            tracked.health, result=verdict, message=message, now=_now()
        )
        self.ctx.reporter.refresh(tracked)


class DropReindexLeftover(_Step):
    """DROP INDEX CONCURRENTLY of an INVALID `_ccnew`/`_ccold` copy (re-checked INVALID on the
    dropping session)."""

    kind = "drop-reindex-leftover"

    def __init__(self, ctx: base.Context, tracked: tracking.Tracked, name: str) -> None:
        super().__init__(ctx, tracked)
        self.name = name

    async def run(self, job: tracking.Job) -> bool:
        return await drop.drop_leftover(self.ctx, self.tracked, name=self.name)

    def outcome(self, result: base.Outcome) -> None:
        # Success resets nothing: a reindex that keeps failing keeps its backoff.
        if result.failure is not None:
            self._failed(f"dropping {self.name}", result.failure)
