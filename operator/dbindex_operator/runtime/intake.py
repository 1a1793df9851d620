"""Intake: every raw watch event of a DatabaseIndex, turned into the fleet's work (core/intake.py
decides what each event asks for).

Kopf delivers the events (its watch stream, peering, selectors, reconnects); the create, update
and delete cycle is ours: the fleet takes the object at once, our finalizer goes on in one
guarded JSON patch when the object needs it (runtime/holding.py), and a deleted object is
cleaned up by a task here that removes the finalizer when the fleet is done. No Kopf bookkeeping
annotation, no second patch, no wait for a write to come back (docs/benchmarks.md, "Writes per
object").
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Mapping
from typing import Any

from dbindex_operator.core import errors, intake
from dbindex_operator.runtime import fleet, holding, kube

logger = logging.getLogger(__name__)
RETRY = 2.0  # seconds between attempts of a finalizer release or a pending cleanup


class Intake:
    def __init__(self, objects: fleet.Fleet, client: kube.Client) -> None:
        self._fleet = objects
        self._client = client
        self._holder = objects.holder
        self._latest: dict[str, Mapping[str, Any]] = {}  # uid -> newest body, while a task runs
        self._tasks: dict[str, asyncio.Task[None]] = {}  # uid -> its finalizer or cleanup task
        self._released: set[str] = set()  # uids whose finalizer we removed, until they go
        self.released = 0

    def observe(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        meta = body.get("metadata") or {}
        uid = meta.get("uid", "")
        intent = intake.decide(event_type, meta, body.get("spec"))
        if intent.forget:
            self._holder.forget(uid)
            task = self._tasks.pop(uid, None)
            if task is not None:
                task.cancel()  # gone (or no longer held by us) while we were at it
            self._latest.pop(uid, None)
            self._released.discard(uid)
            self._fleet.gone(body)
            return
        self._holder.observe(meta)
        if uid in self._tasks:
            self._latest[uid] = body
        if intent.delete and uid in self._released:
            return  # an event from before our release; the object is on its way out
        if intent.track:
            self._fleet.upsert(body)
        if intent.add_finalizer:
            self._start(uid, body, self._finalize(body), "finalize")
        elif intent.delete:
            self._start(uid, body, self._delete(uid, body), "delete")

    async def close(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    def _start(self, uid: str, body: Mapping[str, Any], work: Any, kind: str) -> None:
        running = self._tasks.get(uid)
        if running is not None and running.get_name().startswith(kind):
            work.close()  # already on it; it reads the newest body from _latest
            return
        if running is not None:
            running.cancel()  # a finalizer patch still retrying when the deletion came
        self._latest[uid] = body
        meta = body["metadata"]
        task = asyncio.create_task(work, name=f"{kind}:{meta['namespace']}/{meta['name']}")
        self._tasks[uid] = task
        task.add_done_callback(lambda done: self._done(uid, done))

    def _done(self, uid: str, task: asyncio.Task[None]) -> None:
        if self._tasks.get(uid) is task:
            del self._tasks[uid]
            self._latest.pop(uid, None)

    async def _finalize(self, body: Mapping[str, Any]) -> None:
        """Add our finalizer (deletionPolicy Delete), the way any work adds it first."""
        await self._holder.hold(body["metadata"])

    async def _delete(self, uid: str, body: Mapping[str, Any]) -> None:
        """Clean up through the fleet (phase Deleting), then release the finalizer."""
        while True:
            current = self._latest.get(uid, body)
            try:
                await self._fleet.delete(current, _elapsed(current["metadata"]))
                break
            except fleet.RetryLater:
                continue  # fleet.delete waited `deletion_wait`; look again
            except Exception:
                logger.exception("cleanup of %s failed; retrying", _label(current["metadata"]))
                await asyncio.sleep(RETRY)
        while True:
            meta = self._latest.get(uid, body)["metadata"]
            patch = intake.remove_finalizer(meta)
            if patch is None:
                return
            try:
                await self._client.patch_object(meta["namespace"], meta["name"], patch)
                self._released.add(uid)
                self.released += 1
                return
            except (kube.Conflict, errors.ConnectionFailed) as exc:
                logger.info("%s: releasing the finalizer: %s", _label(meta), exc)
            await asyncio.sleep(RETRY)
            fresh = await holding.current(
                self._client, meta["namespace"], meta["name"], meta.get("uid", ""), fallback=meta
            )
            if fresh is None:
                return
            self._latest[uid] = fresh


def _elapsed(meta: Mapping[str, Any]) -> float:
    """Seconds since the deletion was requested (deletion_timeout counts from there, across
    operator restarts)."""
    stamp = meta.get("deletionTimestamp")
    if not stamp:
        return 0.0
    since = datetime.datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    return max((datetime.datetime.now(datetime.UTC) - since).total_seconds(), 0.0)


def _label(meta: Mapping[str, Any]) -> str:
    return f"{meta.get('namespace')}/{meta.get('name')}"
