"""DatabaseWorker: one asyncio task per database connection (namespace + Secret reference).

It owns every DatabaseIndex that uses that connection. Each pass reads the catalog for all of
them in one query, decides per object (plan.decide), and acts: status, probes, drops, builds.
While builds run it polls pg_stat_progress_create_index for all of them in one query. No Kopf
timer or daemon per object: the fleet stays cheap at thousands of objects.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from dbindex_operator.core import catalog, definitions, errors, plan, progress, status
from dbindex_operator.core import spec as specs
from dbindex_operator.runtime import db, ddl, metrics, tracking

if TYPE_CHECKING:
    from dbindex_operator.runtime.fleet import Fleet

logger = logging.getLogger(__name__)
_SOON = 5.0  # seconds: how soon to look again at objects that wait for something to change
_SECRET_REUSE = 2.0  # seconds a Secret read is reused by the passes that follow it


class DatabaseWorker:
    def __init__(self, fleet: Fleet, namespace: str, ref: specs.ConnectionRef) -> None:
        self.fleet = fleet
        self.namespace = namespace
        self.ref = ref
        self.objects: dict[str, tracking.Tracked] = {}
        self.params: db.ConnectParams | None = None
        self.pool: Any = None
        self._wake = asyncio.Event()
        self._failures = 0
        self._next_pass = 0.0
        self._next_poll = 0.0
        self._closed = False
        self._resolved_at = -1e9
        self._task = asyncio.create_task(self._run(), name=f"db:{namespace}/{ref.secret_name}")

    @property
    def config(self) -> Any:
        return self.fleet.config

    def add(self, tracked: tracking.Tracked, *, urgent: bool = True) -> None:
        """Own an object. Urgent: look at it now; otherwise at the next resync (a restart hands
        over thousands of objects whose status is already settled: no burst of passes)."""
        self.objects[tracked.name] = tracked
        if urgent:
            self.wake()

    def _owns(self, tracked: tracking.Tracked) -> bool:
        return self.objects.get(tracked.name) is tracked

    def wake(self) -> None:
        self._wake.set()

    async def remove(self, name: str) -> tracking.Tracked | None:
        """Forget an object; cancel and await its build or drop in flight."""
        tracked = self.objects.pop(name, None)
        if tracked is not None and tracked.task is not None:
            tracked.task.cancel()
            await asyncio.wait([tracked.task], timeout=30)
        return tracked

    async def close(self) -> None:
        self._closed = True
        self._task.cancel()
        tasks = [t.task for t in self.objects.values() if t.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(self._task, *tasks, return_exceptions=True)
        if self.pool is not None and self.params is not None:
            self.pool = None
            await self.fleet.pools.release(self.params)

    # -- the loop -------------------------------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._closed:
            now = loop.time()
            building = any(t.building for t in self.objects.values())
            deadline = self._next_pass if not building else min(self._next_pass, self._next_poll)
            try:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
                # that races with the event being set, and close() would wait forever.
                async with asyncio.timeout(max(deadline - now, 0.0)):
                    await self._wake.wait()
                # Let a burst of changes (e.g. a start-up listing) arrive before reading.
                await asyncio.sleep(0.05)
            except TimeoutError:
                pass
            woken = self._wake.is_set()
            self._wake.clear()
            try:
                now = loop.time()
                if woken or now >= self._next_pass:
                    await self._pass()
                if any(t.building for t in self.objects.values()) and now >= self._next_poll:
                    await self._poll_progress()
                    self._next_poll = loop.time() + self.config.progress_interval
            except errors.ConnectionProblem as exc:
                self._connection_problem(exc)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception(
                    "worker for %s/%s failed; retrying", self.namespace, self.ref.secret_name
                )
                self._next_pass = loop.time() + self._backoff()

    async def _connect(self) -> db.ConnectParams:
        loop = asyncio.get_running_loop()
        fresh = loop.time() - self._resolved_at < _SECRET_REUSE
        if self.params is not None and self.pool is not None and fresh and not self._failures:
            # Passes right after a build ends come in bursts; one Secret read serves them all.
            return self.params
        params = await self.fleet.resolve(self.namespace, self.ref)
        self._resolved_at = loop.time()
        if params != self.params or self.pool is None:
            old = self.params if self.pool is not None else None
            self.pool = await self.fleet.pools.acquire(params)
            self.params = params
            if old is not None:
                await self.fleet.pools.release(old)
            logger.info(
                "connected to %s for %s/%s", params.describe(), self.namespace, self.ref.secret_name
            )
        return params

    async def _pass(self) -> None:
        loop = asyncio.get_running_loop()
        if not self.objects:
            self._next_pass = loop.time() + self.config.resync_interval
            return
        params = await self._connect()
        idle = [t for t in self.objects.values() if t.task is None and t.spec is not None]
        if idle:
            targets = [(t.spec.schema, t.spec.table, t.spec.name) for t in idle if t.spec]
            states = await db.fetch_states(self.pool, targets, params)
            metrics.CATALOG_QUERIES.labels("state").inc()
        else:
            states = []
        self._failures = 0
        soon = False
        candidates: list[tuple[tracking.Tracked, plan.Action, catalog.IndexState]] = []
        for tracked, state in zip(idle, states, strict=True):
            if not self._owns(tracked):
                continue  # deleted while we read the catalog
            action = await self._decide(tracked, state, params)
            if isinstance(action, (plan.Build, plan.DropLeftover)):
                candidates.append((tracked, action, state))
            else:
                soon |= self._apply(tracked, action, state)
        database = params.identity
        for tracked, action, state in plan.build_order(candidates, lambda c: c[2]):
            assert state.table_oid is not None
            if not self._owns(tracked):
                continue
            if self.fleet.slots.try_acquire(database, state.table_oid):
                self._start(tracked, action, database, state.table_oid)
            else:
                soon = True
                self._report(
                    tracked,
                    "Pending",
                    "Queued",
                    "waiting for a free build slot on this database or table",
                )
        self._next_pass = loop.time() + (
            min(_SOON, self.config.resync_interval) if soon else self.config.resync_interval
        )
        retry_at = [t.next_attempt_at for t in self.objects.values() if t.next_attempt_at > 0]
        if retry_at:
            self._next_pass = min(self._next_pass, max(min(retry_at), loop.time()))

    async def _decide(
        self, tracked: tracking.Tracked, state: catalog.IndexState, params: db.ConnectParams
    ) -> plan.Action:
        spec = tracked.spec
        assert spec is not None
        if tracked.desired is None and state.index_exists and state.valid and state.on_table:
            if definitions.needs_probe(spec):
                try:
                    tracked.desired = await db.probe_signature(self.pool, spec, params)
                    metrics.CATALOG_QUERIES.labels("probe").inc()
                except errors.BuildFailure as failure:
                    return plan.Fail(
                        "InvalidDefinition",
                        f"PostgreSQL rejects this definition: {failure}",
                    )
            else:
                tracked.desired = definitions.local_signature(spec)
        now = asyncio.get_running_loop().time()
        history = plan.History(
            failed=tracked.failed,
            retry_in=max(tracked.next_attempt_at - now, 0.0),
            last_error=(tracked.last_error or {}).get("message"),
            built_here=tracked.built_here,
        )
        return plan.decide(spec, state, tracked.desired, history)

    def _apply(
        self, tracked: tracking.Tracked, action: plan.Action, state: catalog.IndexState
    ) -> bool:
        """Report a decision that needs no task. Returns whether to look again soon."""
        spec = tracked.spec
        assert spec is not None
        if isinstance(action, plan.Ready):
            already = tracked.status.get("phase") == status.READY
            reason = "Adopted" if action.adopted and not already else "IndexValid"
            if already:  # keep the reason it became Ready with (a restart is no adoption)
                reason = status.condition(tracked.status, "Ready").get("reason") or reason
            elif action.adopted:
                self.fleet.event(
                    tracked,
                    "Normal",
                    "Adopted",
                    f"adopted the existing valid index {spec.schema}.{spec.name}",
                )
            tracked.next_attempt_at = 0.0
            self._report(
                tracked,
                status.READY,
                reason,
                f"index {spec.schema}.{spec.name} is valid",
                index=_index_status(spec, state, valid=True),
                progress={"percent": 100},
            )
            return False
        if isinstance(action, plan.WatchForeignBuild):
            row = action.progress
            tracked.percent = progress.percent(row, tracked.percent)
            self._report(
                tracked,
                status.BUILDING,
                "BuildInProgressElsewhere",
                f"backend {row.pid} is building this index; waiting for it to finish",
                index=_index_status(spec, state, valid=False),
                progress=_progress_status(row, tracked.percent),
            )
            return True
        if isinstance(action, plan.Fail):
            if tracked.last_reason != action.reason:
                self.fleet.event(tracked, "Warning", action.reason, action.message)
            self._report(
                tracked,
                status.FAILED,
                action.reason,
                action.message,
                index=_index_status(spec, state, valid=state.valid) if state.index_exists else None,
            )
            return False
        assert isinstance(action, plan.Wait), action
        self._report(tracked, action.phase, action.reason, action.message)
        return True

    def _connection_problem(self, exc: errors.ConnectionProblem) -> None:
        loop = asyncio.get_running_loop()
        delay = self._backoff()
        self._failures += 1
        self._next_pass = loop.time() + delay
        logger.warning(
            "%s/%s: %s (retrying in %.0fs)",
            self.namespace,
            self.ref.secret_name,
            exc.message,
            delay,
        )
        for tracked in self.objects.values():
            if tracked.spec is None or tracked.task is not None:
                continue
            if tracked.status.get("phase") == status.READY:
                continue  # the index is still there; a database blip is not a reason to flap
            if tracked.last_reason != exc.reason:
                self.fleet.event(tracked, "Warning", exc.reason, exc.message)
            self._report(
                tracked, status.WAITING, exc.reason, f"{exc.message} (retrying in {delay:.0f}s)"
            )

    def _backoff(self) -> float:
        delays = self.config.connection_backoff
        return float(delays[min(self._failures, len(delays) - 1)])

    # -- builds and drops -------------------------------------------------------------------------

    def _start(
        self,
        tracked: tracking.Tracked,
        action: plan.Action,
        database: tuple[str, str, str],
        table_oid: int,
    ) -> None:
        work = self._build(tracked) if isinstance(action, plan.Build) else self._drop(tracked)
        # Set before the task first runs: the loop decides right away whether to poll progress.
        tracked.building = isinstance(action, plan.Build)

        async def run() -> None:
            try:
                await work
            finally:
                self.fleet.slots.release(database, table_oid)
                tracked.task = None
                tracked.building = False
                tracked.backend_pid = None
                self.wake()

        tracked.task = asyncio.create_task(run(), name=f"work:{tracked.label}")

    async def _build(self, tracked: tracking.Tracked) -> None:
        spec, params = tracked.spec, self.params
        assert spec is not None and params is not None
        ns = tracked.namespace
        tracked.attempts += 1
        tracked.percent = 0
        tracked.started_at = tracking.now_iso()
        tracked.completed_at = None
        attempt = f"attempt {tracked.attempts} of {spec.retry.max_attempts}"
        self.fleet.event(
            tracked,
            "Normal",
            "BuildStarted",
            f"CREATE INDEX CONCURRENTLY {spec.schema}.{spec.name} ({attempt})",
        )
        self._report(
            tracked,
            status.BUILDING,
            "BuildStarted",
            f"building ({attempt})",
            progress={
                "percent": 0,
                "phase": "initializing",
                "updatedAt": tracking.now_iso_precise(),
            },
        )
        logger.info(
            "%s: building %s.%s on %s (%s)",
            tracked.label,
            spec.schema,
            spec.name,
            params.describe(),
            attempt,
        )
        metrics.BUILDS_STARTED.labels(ns).inc()
        metrics.BUILDS_IN_PROGRESS.labels(ns).inc()
        started = time.monotonic()
        try:
            await ddl.build(
                params, spec, self.config, lambda pid: setattr(tracked, "backend_pid", pid)
            )
        except errors.BuildFailure as failure:
            await self._failed(tracked, failure)
            return
        finally:
            metrics.BUILDS_IN_PROGRESS.labels(ns).dec()
        took = time.monotonic() - started
        metrics.BUILDS_SUCCEEDED.labels(ns).inc()
        metrics.BUILD_DURATION.labels(ns).observe(took)
        tracked.built_here = True
        tracked.completed_at = tracking.now_iso()
        # lastError stays: "it recovered, but what happened?" is the 3 a.m. question.
        tracked.failed = None
        tracked.next_attempt_at = 0.0
        logger.info("%s: built %s.%s in %.1fs", tracked.label, spec.schema, spec.name, took)
        self.fleet.event(
            tracked,
            "Normal",
            "BuildSucceeded",
            f"index {spec.schema}.{spec.name} is valid (built in {took:.1f}s)",
        )

    async def _failed(self, tracked: tracking.Tracked, failure: errors.BuildFailure) -> None:
        spec, params = tracked.spec, self.params
        assert spec is not None and params is not None
        reason = errors.reason_for(failure.sqlstate)
        sqlstate_class = failure.sqlstate[:2] if failure.sqlstate else "none"
        metrics.BUILDS_FAILED.labels(tracked.namespace, sqlstate_class).inc()
        tracked.last_error = {
            "sqlstate": failure.sqlstate or "",
            "message": failure.message,
            "time": tracking.now_iso(),
        }
        logger.warning(
            "%s: build of %s.%s failed: %s", tracked.label, spec.schema, spec.name, failure
        )
        tracked.building = False
        # A leftover is harmful (a ready-but-invalid UNIQUE index still rejects inserts).
        await self._drop_leftover(tracked)
        if failure.retryable and tracked.attempts < spec.retry.max_attempts:
            delay = spec.retry.delay(tracked.attempts)
            tracked.next_attempt_at = asyncio.get_running_loop().time() + delay
            metrics.RETRIES.labels(tracked.namespace).inc()
            message = (
                f"attempt {tracked.attempts} of {spec.retry.max_attempts} failed: "
                f"{failure}; retrying in {delay:.0f}s"
            )
            self.fleet.event(tracked, "Warning", "Retrying", message)
            self._report(tracked, status.RETRYING, reason, message)
            return
        why = "permanent error" if not failure.retryable else "no attempts left"
        message = f"{why}: {failure}"
        tracked.failed = plan.Fail("BuildFailed", message)
        self.fleet.event(tracked, "Warning", "BuildFailed", message)
        self._report(tracked, status.FAILED, "BuildFailed", message)

    async def _drop(self, tracked: tracking.Tracked) -> None:
        if not await self._drop_leftover(tracked):
            tracked.next_attempt_at = asyncio.get_running_loop().time() + _SOON

    async def _drop_leftover(self, tracked: tracking.Tracked) -> bool:
        spec, params = tracked.spec, self.params
        assert spec is not None and params is not None
        try:
            dropped = await ddl.drop(
                params,
                spec.schema,
                spec.name,
                self.config,
                only_invalid=True,
                lock_timeout=spec.build.lock_timeout,
            )
        except (errors.BuildFailure, errors.ConnectionProblem) as exc:
            logger.warning(
                "%s: could not drop INVALID %s.%s: %s", tracked.label, spec.schema, spec.name, exc
            )
            return False
        if dropped:
            metrics.INVALID_DROPPED.labels(tracked.namespace).inc()
            logger.info("%s: dropped INVALID index %s.%s", tracked.label, spec.schema, spec.name)
            self.fleet.event(
                tracked,
                "Normal",
                "InvalidIndexDropped",
                f"dropped the INVALID index {spec.schema}.{spec.name}",
            )
        return True

    async def _poll_progress(self) -> None:
        params = self.params
        building = [t for t in self.objects.values() if t.building and t.backend_pid]
        if not building or params is None:
            return
        rows = await db.fetch_progress(
            self.pool, [t.backend_pid for t in building if t.backend_pid], params
        )
        metrics.CATALOG_QUERIES.labels("progress").inc()
        for tracked in building:
            row = rows.get(tracked.backend_pid or 0)
            if row is None or not tracked.building:
                continue
            tracked.percent = progress.percent(row, tracked.percent)
            spec = tracked.spec
            assert spec is not None
            attempt = f"attempt {tracked.attempts} of {spec.retry.max_attempts}"
            _, blocking = progress.blockers(row)
            waiting = f"; blocked by {', '.join(map(str, blocking))}" if blocking else ""
            self._report(
                tracked,
                status.BUILDING,
                "BuildRunning",
                f"{progress.phase_text(row)}{waiting} ({attempt})",
                progress=_progress_status(row, tracked.percent),
            )

    # -- status -----------------------------------------------------------------------------------

    def _report(
        self,
        tracked: tracking.Tracked,
        phase: str,
        reason: str,
        message: str,
        *,
        index: dict[str, Any] | None = None,
        progress: dict[str, Any] | None = None,
    ) -> None:
        tracked.last_reason = reason
        report = status.Report(
            phase=phase,
            reason=reason,
            message=message,
            attempts=tracked.attempts,
            index=index if index is not None else tracked.status.get("index"),
            progress=progress,
            last_error=tracked.last_error,
            started_at=tracked.started_at,
            completed_at=tracked.completed_at,
            retry_token=tracked.retry_token,
        )
        # Most passes conclude what the last one did: skip rendering and comparing the status.
        if tracked.last_report == (tracked.generation, report):
            return
        tracked.last_report = (tracked.generation, report)
        self.fleet.writer.submit(tracked, report)


def _index_status(
    spec: specs.IndexSpec, state: catalog.IndexState, *, valid: bool
) -> dict[str, Any]:
    index: dict[str, Any] = {"schema": spec.schema, "name": spec.name, "valid": valid}
    if state.definition:
        index["definition"] = state.definition
    tablespace = (state.signature or {}).get("tablespace")
    if tablespace:
        index["tablespace"] = tablespace
    return index


def _progress_status(row: catalog.Progress, percent: int) -> dict[str, Any]:
    current, blocking = progress.blockers(row)
    result: dict[str, Any] = {"phase": progress.phase_text(row), "percent": percent}
    result.update(progress.counters(row))
    if blocking:
        result["blockingPids"] = blocking
    if current:
        result["currentLockerPid"] = current
    result["updatedAt"] = tracking.now_iso_precise()
    return result
