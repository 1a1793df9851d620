"""StatusWriter: coalesced, change-only status patches.

Reports arrive as often as the reconciler likes; each object's status is patched at most once per
`min_interval`, only when it differs from what the API server already has, and always with the
newest content (older pending content is simply replaced). A short settle time before the first
patch of a burst lets quick builds go from nothing to Ready in one patch. A terminal status
(Ready, Failed) is the answer a user or `kubectl wait` is waiting for: it goes out at once,
held back by neither rule (both exist for progress, which a later report would overwrite); so
does a progress report that names a new blocking PID (core/status.newly_blocked).
"""

from __future__ import annotations

import asyncio
import logging

from dbindex_operator.core import status
from dbindex_operator.runtime import kube, metrics, tracking

logger = logging.getLogger(__name__)
_TERMINAL = frozenset({status.READY, status.FAILED})


class StatusWriter:
    def __init__(
        self,
        client: kube.Client,
        min_interval: float,
        parallel: int = 32,
        settle: float = 0.2,
        new_phase_settle: float = 2.0,
    ) -> None:
        self._client = client
        self._min_interval = min_interval
        self._settle = settle
        self._new_phase_settle = max(settle, new_phase_settle)
        self._pending: dict[tracking.ObjectKey, tracking.Tracked] = {}
        self._wake = asyncio.Event()
        self._parallel = asyncio.Semaphore(parallel)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="status-writer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def submit(self, tracked: tracking.Tracked, report: status.Report) -> None:
        new = status.render(
            report, generation=tracked.generation, previous=tracked.status, now=tracking.now_iso()
        )
        if status.merge_patch(new, tracked.status) is None:
            return
        tracked.status = new
        if tracked.key not in self._pending:
            tracked.pending_since = asyncio.get_running_loop().time()
        self._pending[tracked.key] = tracked
        self._wake.set()

    def forget(self, key: tracking.ObjectKey) -> None:
        self._pending.pop(key, None)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                now = loop.time()
                due = [t for t in self._pending.values() if self._due(t) <= now]
                for tracked in due:
                    del self._pending[tracked.key]
                if due:
                    await asyncio.gather(*(self._send(t) for t in due))
                    continue
                wait = min(self._due(t) for t in self._pending.values()) - now
                try:
                    async with asyncio.timeout(max(wait, 0.01)):
                        await self._wake.wait()
                    self._wake.clear()
                except TimeoutError:
                    pass

    def _due(self, tracked: tracking.Tracked) -> float:
        """When a pending status may go out: `min_interval` after the previous patch, and a short
        `settle` after it first became pending, so that a build that ends within it is written
        once (Ready) rather than twice (Building, then Ready a second later). A terminal status
        is due at once: nothing later would replace it, and someone is waiting for it."""
        phase = tracked.status.get("phase")
        if phase in _TERMINAL or status.newly_blocked(tracked.status, tracked.written):
            return tracked.pending_since
        # A new phase (Queued, Building) waits longer than a progress update within one: a
        # small build that queues, builds and ends within it is written once, Ready, instead of
        # three times (docs/benchmarks.md, "Writes per object").
        settle = self._settle if phase == tracked.written.get("phase") else self._new_phase_settle
        return max(tracked.patched_at + self._min_interval, tracked.pending_since + settle)

    async def _send(self, tracked: tracking.Tracked) -> None:
        snapshot = tracked.status
        patch = status.merge_patch(snapshot, tracked.written)
        if patch is None:
            return
        async with self._parallel:
            try:
                found = await self._client.patch_status(tracked.namespace, tracked.name, patch)
            except Exception as exc:  # the API server hiccuped: keep the content, try again
                logger.warning("status patch for %s failed: %s", tracked.label, exc)
                tracked.patched_at = asyncio.get_running_loop().time()
                # No sooner than min_interval, terminal or not: no hot loop against a failing
                # API server.
                tracked.pending_since = tracked.patched_at + self._min_interval
                self._pending.setdefault(tracked.key, tracked)
                self._wake.set()
                return
        if found:  # a patch to an object that is already gone wrote nothing
            metrics.STATUS_PATCHES.inc()
        tracked.written = snapshot
        tracked.patched_at = asyncio.get_running_loop().time()
