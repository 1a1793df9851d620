"""runtime/handlers.tune: the Kopf settings the operator's cost at scale depends on."""

from __future__ import annotations

import kopf

from dbindex_operator.core import settings as config
from dbindex_operator.runtime import handlers


def _tuned() -> kopf.OperatorSettings:
    tuned = kopf.OperatorSettings()
    handlers.tune(tuned, config.FINALIZER)
    return tuned


def test_the_initial_listing_comes_in_pages() -> None:
    # Unpaged (Kopf's default: None), a start parses every object at once and the allocator
    # keeps the arenas of that burst: 151 MB instead of 115 MB at 3,000 objects.
    assert kopf.OperatorSettings().watching.chunk_size is None
    assert _tuned().watching.chunk_size == handlers.LIST_CHUNK
    assert 0 < handlers.LIST_CHUNK <= 500


def test_kopf_keeps_no_bookkeeping_of_its_own_in_our_objects() -> None:
    tuned = _tuned()
    assert tuned.persistence.finalizer != config.FINALIZER
    assert isinstance(tuned.persistence.diffbase_storage, handlers._NoDiffBase)
    assert isinstance(tuned.persistence.progress_storage, handlers._NoProgress)
    assert tuned.queueing.idle_timeout == 1.0


def test_kopf_is_given_no_essence_to_clean_and_no_progress_to_keep() -> None:
    """What Kopf asks of the two storages in each event's cycle costs nothing and keeps
    nothing: no deep copy of an essence, no annotation read or written."""
    progress = handlers._NoProgress()
    essence = kopf.BodyEssence(metadata={"annotations": {"kopf.dbindex.dev/x": "{}"}})
    assert progress.clear(essence=essence) is essence
    body = kopf.Body({"metadata": {"name": "a", "annotations": {"kopf.dbindex.dev/x": "{}"}}})
    patch = kopf.Patch()
    assert progress.fetch(key=kopf.HandlerId("h"), body=body) is None
    progress.touch(body=body, patch=patch, value="x")
    progress.purge(key=kopf.HandlerId("h"), body=body, patch=patch)
    assert not patch
