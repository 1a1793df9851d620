"""Intake: what one raw watch event of a DatabaseIndex asks the operator to do, and the finalizer
JSON patches. Pure.

Why raw events and our own finalizer instead of Kopf's create/update/delete handlers
(docs/benchmarks.md, "Writes per object"): Kopf's handler cycle costs a finalizer patch, then a
second patch for its bookkeeping annotations, then a wait for its own write to come back, per
object. Every decision it made for us is cheaper to make from the event itself: the fleet
already knows each object's generation and retry annotation, and the status says what is
settled. What is left of Kopf per object is the watch stream and a short-lived worker.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from dbindex_operator.core import settings

JsonPatch = list[dict[str, Any]]


@dataclasses.dataclass(frozen=True)
class Intent:
    """``track``: hand the object to the fleet; ``add_finalizer``: it lacks ours and needs it now;
    ``delete``: clean up and release it; ``forget``: it is gone (or no longer ours to hold)."""

    track: bool = False
    add_finalizer: bool = False
    delete: bool = False
    forget: bool = False


def decide(
    event_type: str | None, meta: Mapping[str, Any], spec: Mapping[str, Any] | None = None
) -> Intent:
    """`event_type`: ADDED, MODIFIED, DELETED, or None for an object of the initial listing.

    Our finalizer goes on at first sight only under deletionPolicy Delete (its deletion drops
    the index); any other object gets it before its first DDL (runtime/holding.py)."""
    if event_type == "DELETED":
        return Intent(forget=True)
    ours = settings.FINALIZER in (meta.get("finalizers") or ())
    if meta.get("deletionTimestamp"):
        # Without our finalizer there is nothing to hold: the object goes when others let it.
        return Intent(delete=True) if ours else Intent(forget=True)
    drops = (spec or {}).get("deletionPolicy") == "Delete"
    return Intent(track=True, add_finalizer=drops and not ours)


def add_finalizer(meta: Mapping[str, Any], finalizer: str = settings.FINALIZER) -> JsonPatch:
    """A JSON patch that adds `finalizer`, guarded so that a retry never clobbers anything.

    With finalizers present, the `test` compares the whole list: a retry of a patch that was
    applied although the client saw a timeout fails (422) instead of adding it twice, and so does
    a patch racing another controller's finalizer. Without any, the guard is the resourceVersion:
    JSON patch cannot test for a missing member."""
    present = list(meta.get("finalizers") or ())
    if present:
        return [
            {"op": "test", "path": "/metadata/finalizers", "value": present},
            {"op": "add", "path": "/metadata/finalizers/-", "value": finalizer},
        ]
    return [
        {"op": "test", "path": "/metadata/resourceVersion", "value": meta.get("resourceVersion")},
        {"op": "add", "path": "/metadata/finalizers", "value": [finalizer]},
    ]


def remove_finalizer(
    meta: Mapping[str, Any], finalizer: str = settings.FINALIZER
) -> JsonPatch | None:
    """A JSON patch that removes `finalizer` where it is (tested there first, so a stale position
    fails rather than removing someone else's); None when it is not there."""
    present: Sequence[str] = meta.get("finalizers") or ()
    if finalizer not in present:
        return None
    at = f"/metadata/finalizers/{list(present).index(finalizer)}"
    return [{"op": "test", "path": at, "value": finalizer}, {"op": "remove", "path": at}]


def has_finalizer(meta: Mapping[str, Any], finalizer: str = settings.FINALIZER) -> bool:
    return finalizer in (meta.get("finalizers") or ())
