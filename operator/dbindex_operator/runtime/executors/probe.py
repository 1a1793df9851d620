"""Probe: ask PostgreSQL what spec's definition becomes once stored (a scratch build on an empty
copy of the table, rolled back), so an existing index can be compared with it.

It runs beside the scheduler's pass, never inside it: the scratch copy waits for a lock on the
table (bounded by DBINDEX_CATALOG_LOCK_TIMEOUT), and a table someone holds locked must delay only
its own objects, not the database's other objects or the progress of running builds.
"""

from __future__ import annotations

import logging
from typing import Any

from dbindex_operator.core import plan, policy
from dbindex_operator.runtime import db, metrics, tracking
from dbindex_operator.runtime.executors import base

logger = logging.getLogger(__name__)


class Probe(base.Executor):
    kind = "probe"
    needs_slot = False  # read-only: a rolled-back transaction on the catalog pool

    async def run(self, job: tracking.Job) -> dict[str, Any]:
        metrics.CATALOG_QUERIES.labels("probe").inc()
        return await db.probe_signature(self.ctx.pool, self.spec, self.ctx.params)

    def outcome(self, result: base.Outcome) -> None:
        tracked = self.tracked
        if result.failure is None:
            tracked.desired = result.value
            tracked.probe_failures = 0
            return
        tracked.probe_failures += 1
        verdict = policy.after_probe_failure(
            result.failure, tracked.probe_failures, self.spec.retry
        )
        if isinstance(verdict, policy.Retry):
            logger.warning("%s: %s", tracked.label, verdict.message)
            tracked.next_attempt_at = self.ctx.clock() + verdict.delay
            tracked.last_error = {
                "sqlstate": result.failure.sqlstate or "",
                "message": verdict.message,
                "time": tracking.now_iso(),
            }
            return
        tracked.definition_error = plan.Fail(verdict.reason, verdict.message)
