"""Scheduler: one asyncio task per database connection (namespace + Secret reference).

It owns every DatabaseIndex that uses that connection. Each pass reads the catalog for all of
them in one query, asks runtime/deciding.py (core/plan.py) what to do about each, and hands
every piece of work to an executor (runtime/executors): definition checks at once, DDL when a
build slot for the database and the table is free, longest work first. While builds run it polls
pg_stat_progress_create_index for all of them in one query. No Kopf timer or daemon per object:
thousands of objects stay cheap. It decides nothing itself and keeps no history the catalog
could tell.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from dbindex_operator.core import (
    catalog,
    errors,
    parallelism,
    settings,
    slots,
    status,
)
from dbindex_operator.core import spec as specs
from dbindex_operator.runtime import (
    db,
    deciding,
    deletion,
    link,
    metrics,
    reporter,
    resting,
    tracking,
    watching,
)
from dbindex_operator.runtime.executors import base

logger = logging.getLogger(__name__)
_SOON = 5.0  # seconds: how soon to look again at objects that wait for something to change
_DELETING_SOON = 1.0  # ... and at objects being deleted (a Kopf handler is waiting)
_SETTLED_SOON = 2.0  # ... and at settled objects a restart hands over (see add)
# The first progress poll of a new build comes this soon: a CIC that waits for a lock waits at
# its start ("waiting for writers before build"), and the blocker's PID should show at once.
_FIRST_POLL = 0.2


class Services(link.Resolver, Protocol):
    """The little a scheduler needs from the operator around it (runtime/fleet.py)."""

    config: settings.Settings
    slots: slots.Slots
    reporter: reporter.Reporter

    async def hold(self, tracked: tracking.Tracked) -> bool: ...


class Scheduler:
    def __init__(self, services: Services, namespace: str, ref: specs.ConnectionRef) -> None:
        self.services = services
        self.config = services.config
        self.namespace = namespace
        self.ref = ref
        self.objects: dict[str, tracking.Tracked] = {}
        self._wake = asyncio.Event()
        self._failures = 0
        self._next_pass = 0.0
        self._next_resync = 0.0  # the next pass that looks at every object, at rest or not
        self._next_poll = 0.0
        self._next_health = 0.0
        self._closed = False
        # (table oid, pages) of this worker's running builds by object, for parallelism.chains
        self._running: dict[str, tuple[int | None, int]] = {}
        self.link = link.DatabaseLink(services, namespace, ref)
        self._task = asyncio.create_task(self._run(), name=f"db:{namespace}/{ref.secret_name}")

    def add(self, tracked: tracking.Tracked, *, urgent: bool = True) -> None:
        """Own an object. Urgent: look at it now. Else (a restart's settled objects) in one full
        pass _SETTLED_SOON later for a burst of them; it skips those decided already (resting)."""
        self.objects[tracked.name] = tracked
        due = self._clock() + _SETTLED_SOON
        if not urgent and due < self._next_resync:
            self._next_resync = due
        if urgent or due < self._next_pass:
            self._next_pass = min(self._next_pass, due)
            self.wake()  # a pass now (at rest: skipped), then the loop waits for the new time

    def wake(self) -> None:
        self._wake.set()

    def discard(self, name: str) -> None:
        """Forget an object (its work, if any, was cancelled and has ended or is ending)."""
        tracked = self.objects.pop(name, None)
        if tracked is not None and tracked.job is not None:
            tracked.job.cancel()

    async def close(self) -> None:
        self._closed = True
        self._task.cancel()
        jobs = [t.job.task for t in self.objects.values() if t.job and t.job.task]
        for task in jobs:
            task.cancel()
        await asyncio.gather(self._task, *jobs, return_exceptions=True)
        await self.link.close()

    def _owns(self, tracked: tracking.Tracked) -> bool:
        return self.objects.get(tracked.name) is tracked

    def _clock(self) -> float:
        return asyncio.get_running_loop().time()

    # -- the loop -------------------------------------------------------------------------------

    async def _run(self) -> None:
        while not self._closed:
            building = any(t.building for t in self.objects.values())
            deadline = min(self._next_pass, self._next_poll) if building else self._next_pass
            try:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
                # that races with the event being set, and close() would wait forever.
                async with asyncio.timeout(max(deadline - self._clock(), 0.0)):
                    await self._wake.wait()
                # Let a burst of changes (e.g. a start-up listing) arrive before reading.
                await asyncio.sleep(0.05)
            except TimeoutError:
                pass
            woken = self._wake.is_set()
            self._wake.clear()
            try:
                now = self._clock()
                if woken or now >= self._next_pass:
                    await self._pass(full=now >= self._next_resync)
                    if now >= self._next_health:
                        self._next_health = now + self.config.health_interval
                        await watching.observe(
                            self.link, self.objects.values(), self.config, self.services.reporter
                        )
                if any(t.building for t in self.objects.values()) and now >= self._next_poll:
                    to = self.services.reporter
                    await watching.poll_builds(self.link, self.objects.values(), self.config, to)
                    self._next_poll = self._clock() + self.config.progress_interval
            except errors.ConnectionProblem as exc:
                self._connection_problem(exc)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception(
                    "scheduler for %s/%s failed; retrying", self.namespace, self.ref.secret_name
                )
                self._next_pass = self._clock() + self._backoff()

    async def _connect(self) -> base.Context:
        deleting = any(t.deletion is not None for t in self.objects.values())
        params, pool = await self.link.connect(
            fresh=bool(self._failures) or deleting, deleting=deleting
        )
        return base.Context(
            params, pool, self.config, self.services.reporter, self._clock, self.services.hold
        )

    async def _pass(self, full: bool = True) -> None:
        """Read the catalog for the objects without a job and act on it. Only a `full` pass (the
        resync) looks at objects at rest, not every wake of a burst (issue #21 item 2)."""
        if not self.objects:
            self._next_pass = self._next_resync = self._clock() + self.config.resync_interval
            return
        ctx = await self._connect()
        for tracked in self.objects.values():
            if tracked.deletion is not None and tracked.job is not None:
                deletion.stop_work(tracked)
        idle = [
            t
            for t in self.objects.values()
            if t.job is None and t.spec is not None and (full or not t.at_rest)
        ]
        rested = [resting.resting_row(t) for t in idle]  # rows that need no decision
        rows: list[catalog.IndexState | None] = []
        if idle:
            targets = [(t.spec.schema, t.spec.table, t.spec.name) for t in idle if t.spec]
            rows = await db.fetch_changed_states(ctx.pool, targets, ctx.params, rested)
            metrics.CATALOG_QUERIES.labels("state").inc()
            await watching.first_look(ctx.pool, ctx.params, idle, self.config)
        self._failures = 0
        soon = deleting = meanwhile = False
        ddl: list[tuple[base.Executor, catalog.IndexState]] = []
        for tracked, row, state in zip(idle, rested, rows, strict=True):
            if state is None:  # at rest on this very row: unless it changed during the query
                meanwhile |= resting.changed_meanwhile(tracked, row)
            if state is None or not self._owns(tracked):
                continue  # at rest, or deleted while we read the catalog
            if tracked.deletion is not None:
                deleting = True
                executor = deletion.step(ctx, tracked, state)
            else:
                executor, wait = deciding.decide(ctx, tracked, state)
                soon |= wait
                resting.remember_decision(tracked, state, quiet=executor is None and not wait)
            if executor is not None and executor.needs_slot:
                ddl.append((executor, state))
            elif executor is not None:
                base.launch(executor, self.wake)
        # core/parallelism.py: builds beside a dominating chain run without parallel workers.
        states = [state for state in rows if state is not None]
        builds = parallelism.chains([s for _, s in ddl], states, list(self._running.values()))
        weights = parallelism.chain_weights(builds)
        serial = parallelism.serial_tables(weights, self.services.slots.per_database)
        for executor, state in parallelism.build_order(ddl, lambda item: item[1]):
            soon |= not self._start(ctx, executor, state, serial)
        if full or meanwhile:  # what changed during the query is decided by the next pass
            self._next_resync = self._clock() + (0.0 if meanwhile else self.config.resync_interval)
        delay = _DELETING_SOON if deleting else _SOON if soon else self.config.resync_interval
        self._next_pass = min(self._clock() + delay, self._next_resync)
        due = tracking.next_due(self.objects.values(), self._clock())
        if due is not None:
            self._next_pass = min(self._next_pass, due)

    def _start(
        self,
        ctx: base.Context,
        executor: base.Executor,
        state: catalog.IndexState,
        serial: frozenset[int] = frozenset(),
    ) -> bool:
        """Launch DDL when a slot for its database and table is free; False: it waits. A build
        on a table in `serial` runs without parallel workers (core/parallelism.py)."""
        tracked = executor.tracked
        assert state.table_oid is not None
        if not self._owns(tracked):
            return True
        database, table = ctx.params.identity, executor.slot_table or state.table_oid
        if not self.services.slots.try_acquire(database, table):
            if tracked.deletion is None:
                ctx.reporter.report(
                    tracked,
                    status.PENDING,
                    "Queued",
                    "waiting for a free build slot on this database or table",
                )
            return False

        if executor.kind == "build" and table in serial:
            executor.spec = parallelism.serial(executor.spec)
        self._running[tracked.name] = (state.table_oid, state.table_pages)

        def release() -> None:
            self.services.slots.release(database, table)
            self._running.pop(tracked.name, None)
            self.wake()

        base.launch(executor, release, state)  # re-checked under the index lock
        now = self._clock()
        first = now + min(_FIRST_POLL, self.config.progress_interval)
        if not now <= self._next_poll <= first:
            self._next_poll = first
        return True

    def _connection_problem(self, exc: errors.ConnectionProblem) -> None:
        delay = self._backoff()
        self._failures += 1
        self._next_pass = self._clock() + delay
        label = f"{self.namespace}/{self.ref.secret_name}"
        logger.warning("%s: %s (retrying in %.0fs)", label, exc.message, delay)
        deletion.connection_problem(
            self.services.reporter,
            list(self.objects.values()),
            exc,
            delay,
            now=self._clock(),
            timeout=self.config.deletion_timeout,
        )

    def _backoff(self) -> float:
        delays = self.config.connection_backoff
        return float(delays[min(self._failures, len(delays) - 1)])
