"""runtime/lookout.py: which watch events hand an object to the fleet, and when."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from typing import Any

import pytest

from dbindex_operator.core import settings
from dbindex_operator.runtime import lookout


@dataclasses.dataclass
class Known:
    uid: str


def body(
    uid: str = "u1", finalizers: tuple[str, ...] = (settings.FINALIZER,), **meta: Any
) -> dict[str, Any]:
    return {
        "metadata": {
            "namespace": "ns",
            "name": "x",
            "uid": uid,
            "finalizers": list(finalizers),
            **meta,
        },
        "spec": {},
        "status": {},
    }


def run(
    events: list[tuple[str | None, dict[str, Any]]], known: Mapping[tuple[str, str], Any]
) -> list[Any]:
    handed: list[Any] = []

    async def main() -> None:
        watcher = lookout.Lookout(known, handed.append, grace=0.01)
        for event_type, event_body in events:
            watcher.observe(event_type, event_body)
        await asyncio.sleep(0.05)

    asyncio.run(main())
    return handed


@pytest.mark.parametrize(
    ("events", "known", "picked"),
    [
        pytest.param([("MODIFIED", body())], {}, 1, id="finalized-and-unknown"),
        pytest.param([("MODIFIED", body())], {("ns", "x"): Known("u1")}, 0, id="already-tracked"),
        pytest.param(
            [("MODIFIED", body())], {("ns", "x"): Known("old")}, 1, id="recreated-same-name"
        ),
        pytest.param([("ADDED", body(finalizers=()))], {}, 0, id="no-finalizer-yet"),
        pytest.param(
            [("MODIFIED", body(deletionTimestamp="2026-01-01T00:00:00Z"))], {}, 0, id="deleting"
        ),
        pytest.param([("MODIFIED", body()), ("DELETED", body())], {}, 0, id="deleted-meanwhile"),
        pytest.param([("MODIFIED", body()), ("MODIFIED", body())], {}, 1, id="once-per-object"),
        pytest.param([(None, body())], {}, 1, id="seen-in-a-listing"),
    ],
)
def test_lookout_hands_over_only_stranded_objects(
    events: list[tuple[str | None, dict[str, Any]]], known: dict[tuple[str, str], Any], picked: int
) -> None:
    assert len(run(events, known)) == picked


def test_the_newest_body_is_handed_over() -> None:
    newer = body(generation=2)
    assert run([("MODIFIED", body()), ("MODIFIED", newer)], {}) == [newer]
