"""What the scheduler watches over time besides the catalog pass: index health (one query per
database per DBINDEX_HEALTH_INTERVAL for every Ready object's index, never per object or per
resync: status.health, the Unused condition, the gauges), the progress of running builds (one
query for all of them), and maintenance windows closing on running builds."""

from __future__ import annotations

import datetime
import logging
from collections.abc import Collection, Iterable
from typing import Any

from dbindex_operator.core import health, settings, status
from dbindex_operator.runtime import db, link, metrics, object_series, reporter, tracking

logger = logging.getLogger(__name__)


async def observe(
    connection: link.DatabaseLink,
    objects: Iterable[tracking.Tracked],
    config: settings.Settings,
    to: reporter.Reporter,
) -> None:
    ready = [
        t
        for t in objects
        if t.spec is not None and t.job is None and t.status.get("phase") == status.READY
    ]
    if connection.params is None:
        return
    for tracked in await _look(connection.pool, connection.params, ready, config):
        to.refresh(tracked)


async def first_look(
    pool: Any,
    params: db.ConnectParams,
    objects: Iterable[tracking.Tracked],
    config: settings.Settings,
) -> None:
    """Health for the objects a pass may adopt, read before it decides: an existing index's
    first status patch then carries its health, instead of a second patch at the next health
    pass (or at the next start, for objects that arrived after this start's first one). Only
    objects the API server shows neither Ready nor with health: never a second query per pass
    on a settled fleet, and a build's own Ready is not followed by an early health patch."""
    fresh = [
        t
        for t in objects
        if t.spec is not None
        and t.job is None
        and t.written.get("phase") != status.READY
        and "health" not in t.status
    ]
    await _look(pool, params, fresh, config)


async def _look(
    pool: Any,
    params: db.ConnectParams,
    objects: list[tracking.Tracked],
    config: settings.Settings,
) -> list[tracking.Tracked]:
    """One health query for these objects' indexes; sets tracked.health (and the gauges) on
    those found and returns them."""
    if not objects:
        return []
    targets = [(t.spec.schema, t.spec.name) for t in objects if t.spec is not None]
    found = await db.fetch_health(pool, targets, params)
    metrics.CATALOG_QUERIES.labels("health").inc()
    now = datetime.datetime.now(datetime.UTC)
    looked = []
    for position, tracked in enumerate(objects):
        facts = found.get(position)
        if facts is None:
            continue
        tracked.health = health.status(
            facts, now=now, previous=tracked.health, unused_after=config.unused_after
        )
        object_series.record_health(tracked.namespace, tracked.name, tracked.health)
        looked.append(tracked)
    return looked


def cancel_outside_windows(
    objects: Iterable[tracking.Tracked], config: settings.Settings, to: reporter.Reporter
) -> None:
    """spec.window.cancelOutsideWindow: a build still running when its window closes is
    cancelled; the next pass drops its leftover (exempt from the window for that reason)."""
    now = datetime.datetime.now(datetime.UTC)
    for tracked in objects:
        window = tracked.spec and (tracked.spec.window or config.default_window)
        job = tracked.job
        if not window or not window.cancel_outside or job is None or not job.polls_progress:
            continue
        if not job.cancelled and not window.is_open(now):
            message = "the maintenance window closed; the build is cancelled"
            logger.info("%s: %s", tracked.label, message)
            to.event(tracked, "Warning", "CancelledOutsideWindow", message)
            job.cancel()


async def poll_builds(
    connection: link.DatabaseLink,
    objects: Collection[tracking.Tracked],
    config: settings.Settings,
    to: reporter.Reporter,
) -> None:
    """While builds run: their progress, and the windows that close on them."""
    await poll_progress(connection, objects)
    cancel_outside_windows(objects, config, to)


async def poll_progress(connection: link.DatabaseLink, objects: Iterable[tracking.Tracked]) -> None:
    """One pg_stat_progress_create_index read for every running build of the database; each row
    goes to the executor of the job whose session it is."""
    jobs = {
        t.job.backend_pid: t.job
        for t in objects
        if t.job is not None and t.job.polls_progress and t.job.backend_pid
    }
    if not jobs or connection.params is None:
        return
    rows = await db.fetch_progress(connection.pool, list(jobs), connection.params)
    metrics.CATALOG_QUERIES.labels("progress").inc()
    for pid, job in jobs.items():
        row = rows.get(pid)
        if row is not None and job.executor is not None and job.backend_pid == pid:
            job.executor.progress(row)
