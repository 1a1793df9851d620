"""Drops: an INVALID leftover nobody is building (then the next pass builds), and the drop that
deleting an object asks for. Both are DROP INDEX CONCURRENTLY through ddl.drop, which re-checks
on its own session that a leftover is still INVALID right before dropping it."""

from __future__ import annotations

import logging

from dbindex_operator.core import policy
from dbindex_operator.runtime import ddl, metrics, reporter, tracking
from dbindex_operator.runtime.executors import base

logger = logging.getLogger(__name__)
RETRY_DROP_AFTER = 5.0  # seconds before a failed leftover drop is tried again


async def drop_leftover(
    ctx: base.Context,
    tracked: tracking.Tracked,
    *,
    name: str | None = None,
    schema: str | None = None,
) -> bool:
    """DROP INDEX CONCURRENTLY of the object's index (or `name`, a replacement of ours) if it is
    INVALID. Raises BuildFailure."""
    spec = tracked.spec
    assert spec is not None
    name, schema = name or spec.name, schema or spec.schema
    dropped = await ddl.drop(
        ctx.params,
        schema,
        name,
        ctx.config,
        only_invalid=True,
        lock_timeout=spec.build.lock_timeout,
    )
    if dropped:
        metrics.leftover_dropped(tracked.namespace, tracked.name)
        logger.info("%s: dropped INVALID index %s.%s", tracked.label, schema, name)
        ctx.reporter.event(
            tracked,
            "Normal",
            "InvalidIndexDropped",
            f"dropped the INVALID index {schema}.{name}",
        )
    return dropped


class DropLeftover(base.Executor):
    kind = "drop-leftover"

    def __init__(
        self, ctx: base.Context, tracked: tracking.Tracked, *, drift: str | None = None
    ) -> None:
        super().__init__(ctx, tracked)
        self.drift = drift

    def start(self) -> None:
        if self.drift is not None:
            from dbindex_operator.runtime.executors import build

            build.drifted(self.ctx, self.tracked, self.drift)

    async def run(self, job: tracking.Job) -> bool:
        return await drop_leftover(self.ctx, self.tracked)

    def outcome(self, result: base.Outcome) -> None:
        if result.failure is not None:
            logger.warning(
                "%s: could not drop INVALID index: %s", self.tracked.label, result.failure
            )
            self.tracked.next_attempt_at = self.ctx.clock() + RETRY_DROP_AFTER


class DropForDeletion(base.Executor):
    """deletionPolicy Delete: the index goes; Retain: only an INVALID leftover goes."""

    kind = "delete"

    def __init__(
        self,
        ctx: base.Context,
        tracked: tracking.Tracked,
        *,
        only_invalid: bool,
        name: str | None = None,
        schema: str | None = None,
        concurrently: bool = True,
    ) -> None:
        super().__init__(ctx, tracked)
        self.only_invalid = only_invalid
        self.name = name  # one of our own replacement/retired/partition indexes; None: declared
        self.schema = schema or self.spec.schema
        self.concurrently = concurrently

    async def run(self, job: tracking.Job) -> bool:
        return await ddl.drop(
            self.ctx.params,
            self.schema,
            self.name or self.spec.name,
            self.ctx.config,
            only_invalid=self.only_invalid,
            lock_timeout=self.spec.build.lock_timeout,
            concurrently=self.concurrently,
        )

    def outcome(self, result: base.Outcome) -> None:
        tracked, spec = self.tracked, self.spec
        deletion = tracked.deletion
        assert deletion is not None
        index = f"{spec.schema}.{spec.name}"
        if result.failure is not None:
            verdict = policy.deletion_after_error(
                delete_with_object=spec.delete_with_object,
                was_building=deletion.was_building,
                elapsed=self.ctx.clock() - deletion.started_at,
                timeout=self.ctx.config.deletion_timeout,
                index=index,
                problem=str(result.failure),
            )
            logger.warning("%s: dropping %s failed: %s", tracked.label, index, result.failure)
            if isinstance(verdict, policy.Release):
                finish(self.ctx.reporter, tracked, verdict)
            return
        if self.name is not None:  # ours, on the way: the declared index is decided next
            logger.info("%s: dropped %s.%s", tracked.label, self.schema, self.name)
            return
        what = "index" if not self.only_invalid else "INVALID leftover"
        if result.value:
            if self.only_invalid:
                metrics.leftover_dropped(tracked.namespace, tracked.name)
            else:
                metrics.INDEXES_DROPPED.labels(tracked.namespace).inc()
            logger.info("%s: dropped %s %s", tracked.label, what, index)
        finish(self.ctx.reporter, tracked, policy.Release(f"dropped {what} {index}"))


def finish(to: reporter.Reporter, tracked: tracking.Tracked, release: policy.Release) -> None:
    """The deletion is over: say so if cleanup was abandoned, and let the Kopf handler go."""
    assert tracked.deletion is not None
    if release.warning is not None:
        to.event(tracked, "Warning", release.warning, release.message)
    tracked.deletion.finish(release)
