"""The steps of a replacement after its build (executors/build.BuildReplacement): the swap, and
the drops of a retired old index or of a replacement that is INVALID or stale. Each is one
statement (or one short transaction) decided from the catalog by core/replacement.py."""

from __future__ import annotations

import logging

from dbindex_operator.core import catalog, names, plan, statements, status
from dbindex_operator.runtime import ddl, tracking
from dbindex_operator.runtime.executors import base

logger = logging.getLogger(__name__)
RETRY_STEP_AFTER = 5.0  # seconds before a failed swap or drop is tried again


class Swap(base.Executor):
    kind = "swap"

    def __init__(
        self, ctx: base.Context, tracked: tracking.Tracked, state: catalog.IndexState
    ) -> None:
        super().__init__(ctx, tracked)
        self.statements = statements.swap_body(self.spec, state)

    def start(self) -> None:
        self.ctx.reporter.report(
            self.tracked,
            status.REPLACING,
            "Swapping",
            "replacing (step 2 of 3: swapping the new index in under the declared name)",
        )

    async def run(self, job: tracking.Job) -> None:
        await ddl.swap(self.ctx.params, self.spec, self.statements, self.ctx.config)

    def outcome(self, result: base.Outcome) -> None:
        tracked, spec = self.tracked, self.spec
        if result.failure is not None and not result.failure.retryable:
            message = f"the swap failed: {result.failure}; nothing changed"
            tracked.failed = plan.Fail("SwapFailed", message)
            self.ctx.reporter.event(tracked, "Warning", "SwapFailed", message)
            self.ctx.reporter.report(tracked, status.FAILED, "SwapFailed", message)
            return
        if result.failure is not None:  # e.g. lock_timeout: nothing changed, try again
            logger.warning("%s: swap failed: %s", tracked.label, result.failure)
            tracked.next_attempt_at = self.ctx.clock() + RETRY_STEP_AFTER
            self.ctx.reporter.report(
                tracked,
                status.REPLACING,
                "SwapFailed",
                f"replacing: the swap failed ({result.failure}); nothing changed, "
                f"retrying in {RETRY_STEP_AFTER:.0f}s",
            )
            return
        tracked.built_here = True
        tracked.mismatch_token = None
        tracked.completed_at = tracking.now_iso()
        self.ctx.reporter.event(
            tracked,
            "Normal",
            "IndexSwapped",
            f"{spec.schema}.{spec.name} now has the new definition; the old index is "
            f"{names.retired(spec.name)} until it is dropped",
        )


class DropNamed(base.Executor):
    """DROP INDEX CONCURRENTLY of one of our own indexes: the retired old one, or a replacement
    that is INVALID or was built for an earlier spec."""

    def __init__(
        self,
        ctx: base.Context,
        tracked: tracking.Tracked,
        *,
        retired: bool,
        concurrently: bool = True,
    ) -> None:
        super().__init__(ctx, tracked)
        self.retired = retired
        self.concurrently = concurrently  # False: an index on a partitioned table
        self.kind = "drop-retired" if retired else "drop-replacement"  # type: ignore[misc]
        self.name = (names.retired if retired else names.replacement)(self.spec.name)

    def start(self) -> None:
        if self.retired:
            self.ctx.reporter.report(
                self.tracked,
                status.REPLACING,
                "DroppingOldIndex",
                f"replacing (step 3 of 3: dropping the old index {self.name})",
            )

    async def run(self, job: tracking.Job) -> bool:
        return await ddl.drop(
            self.ctx.params,
            self.spec.schema,
            self.name,
            self.ctx.config,
            only_invalid=False,
            lock_timeout=self.spec.build.lock_timeout,
            concurrently=self.concurrently,
        )

    def outcome(self, result: base.Outcome) -> None:
        tracked, spec = self.tracked, self.spec
        if result.failure is not None:
            logger.warning("%s: dropping %s failed: %s", tracked.label, self.name, result.failure)
            tracked.next_attempt_at = self.ctx.clock() + RETRY_STEP_AFTER
            return
        if result.value and self.retired:
            self.ctx.reporter.event(
                tracked, "Normal", "OldIndexDropped", f"dropped {spec.schema}.{self.name}"
            )
        elif result.value:
            logger.info("%s: dropped the replacement %s", tracked.label, self.name)
