"""Holding: our finalizer goes on an object when its deletion may need us, not at first sight.

It is added
  - at first sight for deletionPolicy Delete: its deletion drops the index (runtime/intake.py);
  - before the first DDL of any work (a build, a drop, a replacement, a reindex): confirmed by
    the API server before that DDL starts (runtime/executors/base.launch).
So a SIGKILL at any step leaves either no database state of ours, or an object whose deletion
waits for the operator to clean up. What it saves: an index that exists already and is only
adopted under deletionPolicy Retain needs nothing from us when its object goes, yet a finalizer
on it cost one write (and one watch event) per object on a first start on an existing fleet,
the API server's busiest hour (issue #21), and made `kubectl delete` wait for a running
operator for nothing. Once on, it stays until the deletion releases it (README, "Deletion";
docs/architecture.md, "The life of one object").
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from dbindex_operator.core import errors, intake
from dbindex_operator.runtime import kube

logger = logging.getLogger(__name__)
RETRY = 2.0  # seconds between attempts of a finalizer patch


class Holder:
    def __init__(self, client: kube.Client) -> None:
        self._client = client
        self._held: set[str] = set()  # uids whose newest event carried our finalizer

    def observe(self, meta: Mapping[str, Any]) -> None:
        """Every watch event of an object that is not gone: remember whether it is held."""
        uid = meta.get("uid", "")
        if intake.has_finalizer(meta):
            self._held.add(uid)
        else:
            self._held.discard(uid)

    def forget(self, uid: str) -> None:
        self._held.discard(uid)

    def held(self, uid: str) -> bool:
        return uid in self._held

    async def hold_object(self, namespace: str, name: str, uid: str) -> bool:
        """Our finalizer on the object `uid`, as the API server has it now: True. False when it
        is gone, is another object of that name, or is being deleted (no finalizer can be added
        then): the work must not start."""
        if uid in self._held:
            return True
        found = await current(self._client, namespace, name, uid)
        return found is not None and await self.hold(found["metadata"])

    async def hold(self, meta: Mapping[str, Any]) -> bool:
        """Add our finalizer to the object `meta` describes, in one guarded JSON patch (a patch
        the client saw fail may have been applied: each retry starts from the object as the API
        server has it). Retries until it is on or the object is going."""
        uid = meta.get("uid", "")
        while True:
            if uid in self._held or intake.has_finalizer(meta):
                self._held.add(uid)
                return True
            if meta.get("deletionTimestamp"):
                return False
            try:
                found = await self._client.patch_object(
                    meta["namespace"], meta["name"], intake.add_finalizer(meta)
                )
                if found is None:
                    return False
                if intake.has_finalizer(found["metadata"]):
                    self._held.add(uid)
                    return True
            except (kube.Conflict, errors.ConnectionFailed) as exc:
                logger.info("%s/%s: adding the finalizer: %s", meta["namespace"], meta["name"], exc)
            await asyncio.sleep(RETRY)
            fresh = await current(self._client, meta["namespace"], meta["name"], uid, fallback=meta)
            if fresh is None:
                return False
            meta = fresh["metadata"]


async def current(
    client: kube.Client,
    namespace: str,
    name: str,
    uid: str,
    fallback: Mapping[str, Any] | None = None,
) -> Mapping[str, Any] | None:
    """The object `uid` as the API server has it now; None when it is gone or another object has
    the name. When the API server cannot be reached: `fallback` (try again with what we had) or,
    without one, wait and ask again."""
    while True:
        try:
            found = await client.read_object(namespace, name)
        except errors.ConnectionFailed as exc:
            if fallback is not None:
                return {"metadata": fallback}
            logger.info("%s/%s: reading it to add the finalizer: %s", namespace, name, exc)
            await asyncio.sleep(RETRY)
            continue
        if found is None or found["metadata"].get("uid") != uid:
            return None
        return found
