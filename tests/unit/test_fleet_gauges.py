"""Fleet._count_phases: the objects gauge and per-object series are recounted only when some
status changed, or an object came or went; an idle fleet's 10-s refresh reads no status."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from dbindex_operator.core import settings
from dbindex_operator.runtime import fleet, metrics, object_series, tracking


def _tracked(name: str, phase: str) -> tracking.Tracked:
    return tracking.Tracked(
        namespace="gauges",
        name=name,
        uid=name,
        generation=1,
        retry_token=None,
        spec=None,
        spec_error=None,
        status={"phase": phase},
        written={"phase": phase},
    )


def _ready() -> float:
    return metrics.OBJECTS.labels("Ready")._value.get()  # type: ignore[attr-defined,no-any-return]


def test_an_unchanged_fleet_is_not_recounted(monkeypatch: pytest.MonkeyPatch) -> None:
    refreshed: list[int] = []
    record = object_series.record_objects

    def counting(objects: Any, now: float | None = None) -> None:
        objects = list(objects)
        refreshed.append(len(objects))
        record(objects, now)

    monkeypatch.setattr(object_series, "record_objects", counting)

    async def main() -> fleet.Fleet:
        # Constructed inside a loop (its writer and pools make asyncio primitives), never started.
        return fleet.Fleet(settings.Settings(), client=None)  # type: ignore[arg-type]

    the_fleet = asyncio.run(main())
    a, b = _tracked("a", "Ready"), _tracked("b", "Building")
    the_fleet.objects = {a.key: a, b.key: b}

    the_fleet._count_phases()
    ready = _ready()
    the_fleet._count_phases()  # nothing changed: nothing read
    assert refreshed == [2]

    b.status = {"phase": "Ready"}  # StatusWriter.submit replaces the dict
    the_fleet._count_phases()
    assert refreshed == [2, 2]
    assert _ready() == ready + 1

    del the_fleet.objects[a.key]  # an object went
    the_fleet._count_phases()
    assert refreshed == [2, 2, 1]
    assert _ready() == ready
