"""The steps of an index on a partitioned table (core/partitions.py decides them): the instant
ON ONLY indexes and the attaches, one leaf's CREATE INDEX CONCURRENTLY, and the drop of a leaf's
INVALID leftover. Attempts and backoff are counted per partition, so a failed partition is
retried alone and the partitions already built are kept."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from dbindex_operator.core import actions, catalog, errors, partitions, plan, policy, status
from dbindex_operator.runtime import ddl, metrics, reporter, tracking
from dbindex_operator.runtime.executors import base, build, drop

logger = logging.getLogger(__name__)
RETRY_STEP_AFTER = 5.0


def partition_progress(
    spec: Any, tree: tuple[partitions.Node, ...], current: partitions.Node | None, percent: int
) -> dict[str, Any]:
    """status.progress for a partitioned index: leaves done of all, and a percent weighted by
    the leaves' sizes (relpages; an empty leaf counts as one page)."""
    done, total, _, _ = partitions.counts(spec, tree)
    weights = {n.oid: max(n.pages, 1) for n in tree if n.leaf}
    finished = sum(
        weights[n.oid]
        for n in tree
        if n.leaf and n.oid != (current.oid if current else None) and _attached(spec, tree, n)
    )
    share = weights[current.oid] * percent / 100 if current is not None else 0
    overall = int((finished + share) * 100 / max(sum(weights.values()), 1))
    return {"partitionsDone": done, "partitionsTotal": total, "percent": min(overall, 99)}


def _attached(spec: Any, tree: tuple[partitions.Node, ...], node: partitions.Node) -> bool:
    by_oid = {n.oid: n for n in tree}
    parent = partitions.own_index(spec, tree, by_oid[node.parent or 0])
    return parent is not None and any(i.parent == parent.oid and i.valid for i in node.indexes)


class Statements(base.Executor):
    """CreateParents or AttachPartitions: quick DDL under the spec's lock_timeout."""

    def __init__(
        self,
        ctx: base.Context,
        tracked: tracking.Tracked,
        action: actions.CreateParents | actions.AttachPartitions,
        state: catalog.IndexState,
    ) -> None:
        super().__init__(ctx, tracked)
        self.kind = type(action).__name__  # type: ignore[misc]
        self.statements = plan.statements(self.spec, state, action)
        self.tree = state.partitions

    def start(self) -> None:
        self.ctx.reporter.report(
            self.tracked,
            status.BUILDING,
            "PartitionsBuilding",
            "creating the partitioned index"
            if self.kind == "CreateParents"
            else "attaching partition indexes",
            progress=partition_progress(self.spec, self.tree, None, 0),
        )

    async def run(self, job: tracking.Job) -> None:
        await ddl.run(
            self.ctx.params, self.statements, self.ctx.config, self.spec.build.lock_timeout
        )

    def outcome(self, result: base.Outcome) -> None:
        if result.failure is None:
            return
        tracked = self.tracked
        if result.failure.retryable:
            logger.warning("%s: %s failed: %s", tracked.label, self.kind, result.failure)
            tracked.next_attempt_at = self.ctx.clock() + RETRY_STEP_AFTER
            return
        message = f"{self.kind} failed: {result.failure}"
        tracked.failed = plan.Fail("PartitionStepFailed", message)
        self.ctx.reporter.event(tracked, "Warning", "PartitionStepFailed", message)
        self.ctx.reporter.report(tracked, status.FAILED, "PartitionStepFailed", message)


class BuildPartition(build.Build):
    """CREATE INDEX CONCURRENTLY on one leaf partition under names.partition(...)."""

    kind = "build"

    def __init__(
        self,
        ctx: base.Context,
        tracked: tracking.Tracked,
        state: catalog.IndexState,
        table: int,
        index: str,
    ) -> None:
        super().__init__(ctx, tracked)
        self.tree = state.partitions
        self.node = next(n for n in self.tree if n.oid == table)
        self.slot_table = table
        self.index = index  # on the partitioned table: the declared name or a replacement's

    @property
    def target(self) -> str:
        return partitions.index_name(
            dataclasses.replace(self.spec, name=self.index), self.tree, self.node
        )

    @property
    def _attempt(self) -> str:
        attempts = self.tracked.partition_attempts.get(self.node.oid, 0)
        return (
            f"partition {self.node.schema}.{self.node.name}, "
            f"attempt {attempts} of {self.spec.retry.max_attempts}"
        )

    def start(self) -> None:
        oid = self.node.oid
        self.tracked.partition_attempts[oid] = self.tracked.partition_attempts.get(oid, 0) + 1
        super().start()

    def _starting_progress(self) -> dict[str, Any]:
        details = super()._starting_progress()
        details.update(partition_progress(self.spec, self.tree, self.node, 0))
        details["currentPartitions"] = [
            {"name": self.node.name, "phase": "initializing", "percent": 0}
        ]
        return details

    async def run(self, job: tracking.Job) -> str:
        metrics.BUILDS_IN_PROGRESS.labels(self.tracked.namespace).inc()
        try:
            return await ddl.build(
                self.ctx.params,
                self.spec,
                self.ctx.config,
                job.set_backend,
                name=self.target,
                schema=self.node.schema,
                table=self.node.name,
            )
        except errors.BuildFailure:
            job.backend_pid = None
            try:
                await drop.drop_leftover(
                    self.ctx, self.tracked, name=self.target, schema=self.node.schema
                )
            except errors.BuildFailure as exc:
                logger.warning("%s: could not drop the leftover: %s", self.tracked.label, exc)
            raise
        finally:
            metrics.BUILDS_IN_PROGRESS.labels(self.tracked.namespace).dec()

    def progress(self, row: catalog.Progress) -> None:
        from dbindex_operator.core import progress as progress_rows

        tracked = self.tracked
        tracked.percent = progress_rows.percent(row, tracked.percent)
        details = reporter.progress_status(row, tracked.percent)
        details.update(partition_progress(self.spec, self.tree, self.node, tracked.percent))
        details["currentPartitions"] = [
            {
                "name": self.node.name,
                "phase": progress_rows.phase_text(row),
                "percent": tracked.percent,
            }
        ]
        self.ctx.reporter.report(
            tracked,
            status.BUILDING,
            "BuildRunning",
            f"{progress_rows.phase_text(row)} ({self._attempt})",
            progress=details,
        )

    def outcome(self, result: base.Outcome) -> None:
        tracked, oid = self.tracked, self.node.oid
        tracked.percent = 0
        if result.failure is None:
            metrics.BUILDS_SUCCEEDED.labels(tracked.namespace).inc()
            metrics.BUILD_DURATION.labels(tracked.namespace).observe(result.took)
            tracked.partition_retry.pop(oid, None)
            tracked.built_here = True
            return  # the next pass attaches it
        failure = result.failure
        metrics.BUILDS_FAILED.labels(
            tracked.namespace, failure.sqlstate[:2] if failure.sqlstate else "none"
        ).inc()
        tracked.last_error = {
            "sqlstate": failure.sqlstate or "",
            "message": f"partition {self.node.name}: {failure.message}",
            "time": tracking.now_iso(),
        }
        attempts = tracked.partition_attempts.get(oid, 1)
        verdict = policy.after_build_failure(failure, attempts, self.spec.retry)
        where = f"partition {self.node.schema}.{self.node.name}: "
        if isinstance(verdict, policy.Retry):
            tracked.partition_retry[oid] = (None, self.ctx.clock() + verdict.delay)
            tracked.next_attempt_at = self.ctx.clock() + verdict.delay
            metrics.RETRIES.labels(tracked.namespace).inc()
            self.ctx.reporter.event(tracked, "Warning", "Retrying", where + verdict.message)
            self.ctx.reporter.report(
                tracked,
                status.RETRYING,
                errors.reason_for(failure.sqlstate),
                where + verdict.message,
            )
            return
        failed = plan.Fail(verdict.reason, where + verdict.message)
        tracked.partition_retry[oid] = (failed, 0.0)
        self.ctx.reporter.event(tracked, "Warning", verdict.reason, failed.message)
        self.ctx.reporter.report(tracked, status.FAILED, verdict.reason, failed.message)


class DropPartitionLeftover(base.Executor):
    kind = "drop-leftover"

    def __init__(
        self,
        ctx: base.Context,
        tracked: tracking.Tracked,
        state: catalog.IndexState,
        table: int,
        index: str,
    ) -> None:
        super().__init__(ctx, tracked)
        self.node = next(n for n in state.partitions if n.oid == table)
        self.name = index  # the leaf index itself
        self.slot_table = table

    async def run(self, job: tracking.Job) -> bool:
        return await ddl.drop(
            self.ctx.params,
            self.node.schema,
            self.name,
            self.ctx.config,
            only_invalid=False,  # INVALID, or valid but built for an earlier definition
            lock_timeout=self.spec.build.lock_timeout,
        )

    def outcome(self, result: base.Outcome) -> None:
        if result.failure is not None:
            logger.warning(
                "%s: could not drop the leftover: %s", self.tracked.label, result.failure
            )
            self.tracked.next_attempt_at = self.ctx.clock() + RETRY_STEP_AFTER
