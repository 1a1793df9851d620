"""Lookout: objects Kopf never handed to us, picked up from the raw watch events.

Why this exists (docs/reliability.md, "Fault suite", scenario 9). Kopf adds its finalizer with a
JSON patch guarded by a `test` of the resourceVersion. When the API server applies that patch
but answers 504 ("Timeout: request did not complete within requested timeout", common in a start
burst), Kopf retries the same patch; the retry's test fails (the version moved: our own write),
the API server answers 422 and Kopf keeps the "add the finalizer" step for the next cycle. The
next cycle is the watch event of its own write: the finalizer is already there, so the kept step
patches nothing, yet the kept step also makes Kopf skip the handlers in that cycle. Nothing is
written, so no further event comes: the object keeps the finalizer and never gets a status
until the operator restarts. (Kopf 1.45.2, `processing.process_resource_causes` and
`patching.patch_obj`.)

The fix, outside Kopf: every raw event (Kopf's `on.event`, called in every cycle, before that
skip) passes through here. An object that carries our finalizer, is not being deleted, and is
still unknown to the fleet a grace period later (longer than Kopf's own handler cycle, so the
normal path always wins) is handed to the fleet directly, with a warning naming the cause.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

from dbindex_operator.core import settings

logger = logging.getLogger(__name__)

GRACE = 15.0
"""Seconds a finalized object may stay unknown to the fleet: Kopf's consistency wait (5 s) plus
a handler cycle, with room for a loaded machine."""


class Lookout:
    """``known``: the fleet's objects by (namespace, name), each with a ``uid``;
    ``upsert(body)`` hands an object over to the fleet."""

    def __init__(
        self,
        known: Mapping[tuple[str, str], Any],
        upsert: Callable[[Mapping[str, Any]], None],
        grace: float = GRACE,
    ) -> None:
        self._known = known
        self._upsert = upsert
        self._grace = grace
        self._pending: dict[str, Mapping[str, Any]] = {}  # uid -> the newest body seen
        self.picked_up = 0

    def observe(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        """Called with every watch event (and every object of a listing)."""
        meta = body.get("metadata") or {}
        uid = meta.get("uid", "")
        if (
            event_type == "DELETED"
            or meta.get("deletionTimestamp")
            or settings.FINALIZER not in (meta.get("finalizers") or ())
            or self._knows(meta.get("namespace", ""), meta.get("name", ""), uid)
        ):
            self._pending.pop(uid, None)
            return
        if uid not in self._pending:
            asyncio.get_running_loop().call_later(self._grace, self._check, uid)
        self._pending[uid] = body

    def _knows(self, namespace: str, name: str, uid: str) -> bool:
        tracked = self._known.get((namespace, name))
        return tracked is not None and tracked.uid == uid

    def _check(self, uid: str) -> None:
        body = self._pending.pop(uid, None)
        if body is None:
            return
        meta = body["metadata"]
        if self._knows(meta["namespace"], meta["name"], uid):
            return
        self.picked_up += 1
        logger.warning(
            "%s/%s has our finalizer but Kopf never ran its handlers (a finalizer patch that "
            "timed out but was applied); tracking it from its watch event",
            meta["namespace"],
            meta["name"],
        )
        self._upsert(body)
