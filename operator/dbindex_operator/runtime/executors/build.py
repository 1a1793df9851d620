"""Build: CREATE INDEX CONCURRENTLY for an index the catalog does not have, with progress.

A failed build drops its INVALID leftover at once (a ready-but-invalid UNIQUE index still
rejects inserts); whether to try again is core/policy.py's call.
"""

from __future__ import annotations

import logging
from typing import Any

from dbindex_operator.core import catalog, errors, eta, names, plan, policy, progress, status
from dbindex_operator.runtime import ddl, metrics, reporter, tracking
from dbindex_operator.runtime.executors import base, drop

logger = logging.getLogger(__name__)


class Build(base.Executor):
    """CREATE INDEX CONCURRENTLY of the declared index."""

    kind = "build"
    polls_progress = True
    phase = status.BUILDING
    started_reason = "BuildStarted"
    announces_start = False  # the start is in status (phase, reason, startedAt): no Event

    def __init__(
        self, ctx: base.Context, tracked: tracking.Tracked, *, drift: str | None = None
    ) -> None:
        super().__init__(ctx, tracked)
        self.drift = drift
        # the few samples the ETA needs (core/eta.py)
        self.eta = eta.Estimator(profile=eta.profile(self.spec))

    @property
    def target(self) -> str:
        """The name built: the declared one."""
        return self.spec.name

    @property
    def _attempt(self) -> str:
        return f"attempt {self.tracked.attempts} of {self.spec.retry.max_attempts}"

    def _doing(self) -> str:
        return "building"

    def _starting_progress(self) -> dict[str, Any]:
        return {"percent": 0, "phase": "initializing", "updatedAt": tracking.now_iso_precise()}

    def start(self) -> None:
        tracked, spec = self.tracked, self.spec
        if self.drift is not None:
            drifted(self.ctx, tracked, self.drift)
        tracked.attempts += 1
        tracked.percent = 0
        tracked.started_at = tracking.now_iso()
        tracked.completed_at = None
        if self.announces_start:
            self.ctx.reporter.event(
                tracked,
                "Normal",
                self.started_reason,
                f"CREATE INDEX CONCURRENTLY {spec.schema}.{self.target} ({self._attempt})",
            )
        self.ctx.reporter.report(
            tracked,
            self.phase,
            self.started_reason,
            f"{self._doing()} ({self._attempt})",
            progress=self._starting_progress(),
        )
        logger.info(
            "%s: building %s.%s on %s (%s)",
            tracked.label,
            spec.schema,
            spec.name,
            self.ctx.params.describe(),
            self._attempt,
        )
        metrics.BUILDS_STARTED.labels(tracked.namespace).inc()

    async def run(self, job: tracking.Job) -> str:
        namespace = self.tracked.namespace
        metrics.BUILDS_IN_PROGRESS.labels(namespace).inc()
        try:
            return await ddl.build(
                self.ctx.params, self.spec, self.ctx.config, job.set_backend, name=self.target
            )
        except errors.BuildFailure as failure:
            logger.warning("%s: build failed: %s", self.tracked.label, failure)
            job.backend_pid = None  # no more progress polls for a dead session
            try:
                await drop.drop_leftover(self.ctx, self.tracked, name=self.target)
            except errors.BuildFailure as exc:  # the next pass finds it and tries again
                logger.warning("%s: could not drop the leftover: %s", self.tracked.label, exc)
            raise
        finally:
            metrics.BUILDS_IN_PROGRESS.labels(namespace).dec()

    def progress(self, row: catalog.Progress) -> None:
        tracked = self.tracked
        tracked.percent = progress.percent(row, tracked.percent)
        _, blocking = progress.blockers(row)
        waiting = f"; blocked by {', '.join(map(str, blocking))}" if blocking else ""
        details = reporter.progress_status(row, tracked.percent)
        details.update(self.eta_seconds(row))
        self.ctx.reporter.report(
            tracked,
            self.phase,
            "BuildRunning",
            f"{self._doing()}: {progress.phase_text(row)}{waiting} ({self._attempt})"
            if self.phase != status.BUILDING
            else f"{progress.phase_text(row)}{waiting} ({self._attempt})",
            progress=details,
        )

    def eta_seconds(self, row: catalog.Progress) -> dict[str, int]:
        """{"etaSeconds": n} once the current phase's rate is stable (core/eta.py), else {}."""
        now = self.ctx.clock()
        self.eta = eta.observe(self.eta, row, now)
        seconds = eta.seconds(self.eta, now)
        return {} if seconds is None else {"etaSeconds": seconds}

    def outcome(self, result: base.Outcome) -> None:
        tracked, spec = self.tracked, self.spec
        if result.failure is None:
            metrics.BUILDS_SUCCEEDED.labels(tracked.namespace).inc()
            metrics.BUILD_DURATION.labels(tracked.namespace).observe(result.took)
            tracked.built_here = True
            tracked.completed_at = tracking.now_iso()
            # lastError stays: "it recovered, but what happened?" is the 3 a.m. question.
            tracked.failed = None
            tracked.next_attempt_at = 0.0
            logger.info("%s: built in %.1fs", tracked.label, result.took)
            self.ctx.reporter.event(
                tracked,
                "Normal",
                "BuildSucceeded",
                f"index {spec.schema}.{self.target} is valid (built in {result.took:.1f}s)",
            )
            return  # Ready (or the swap) comes from the catalog at the pass this wakes
        failure = result.failure
        sqlstate_class = failure.sqlstate[:2] if failure.sqlstate else "none"
        metrics.BUILDS_FAILED.labels(tracked.namespace, sqlstate_class).inc()
        tracked.last_error = {
            "sqlstate": failure.sqlstate or "",
            "message": failure.message,
            "time": tracking.now_iso(),
        }
        verdict = policy.after_build_failure(failure, tracked.attempts, spec.retry)
        if isinstance(verdict, policy.Retry):
            tracked.next_attempt_at = self.ctx.clock() + verdict.delay
            metrics.RETRIES.labels(tracked.namespace).inc()
            self.ctx.reporter.event(tracked, "Warning", "Retrying", verdict.message)
            self.ctx.reporter.report(
                tracked, status.RETRYING, errors.reason_for(failure.sqlstate), verdict.message
            )
            return
        tracked.failed = plan.Fail(verdict.reason, verdict.message)
        self.ctx.reporter.event(tracked, "Warning", verdict.reason, verdict.message)
        self.ctx.reporter.report(tracked, status.FAILED, verdict.reason, verdict.message)


class BuildReplacement(Build):
    """CREATE INDEX CONCURRENTLY of the new definition under its replacement name; the same
    session settings, progress and retry rules as a first build."""

    kind = "replace"
    phase = status.REPLACING
    started_reason = "ReplaceStarted"
    announces_start = True  # a replacement swaps a live index: worth an Event

    def __init__(
        self,
        ctx: base.Context,
        tracked: tracking.Tracked,
        differences: tuple[str, ...],
        *,
        drift: str | None = None,
    ) -> None:
        super().__init__(ctx, tracked, drift=drift)
        self.differences = differences

    @property
    def target(self) -> str:
        return names.replacement(self.spec.name)

    def _doing(self) -> str:
        return "replacing (step 1 of 3: building the new definition)"

    def start(self) -> None:
        logger.info("%s: replacing: %s", self.tracked.label, "; ".join(self.differences))
        super().start()


def drifted(ctx: base.Context, tracked: tracking.Tracked, found: str) -> None:
    """The catalog no longer holds what this object made Ready: say so, then heal it."""
    spec = tracked.spec
    assert spec is not None
    tracked.last_drift = {"time": tracking.now_iso(), "found": found}
    message = f"{spec.schema}.{spec.name}: {found} outside the operator; healing it"
    ctx.reporter.event(tracked, "Warning", "Drifted", message)
    # No longer Ready at this generation: the healing steps that follow are no new drift.
    ctx.reporter.report(tracked, status.BUILDING, "Drifted", message)
