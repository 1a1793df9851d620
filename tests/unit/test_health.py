"""core/health.py: the bloat estimate, the carried scan bookkeeping, Unused; status rendering."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from dbindex_operator.core import health, status

NOW = datetime.datetime(2026, 12, 3, 12, 0, tzinfo=datetime.UTC)


def facts(**fields: Any) -> health.Facts:
    base: dict[str, Any] = {
        "size_bytes": 1000 * health.BLOCK,
        "method": "btree",
        "scans": 5,
        "tuples": 100_000.0,
        "fillfactor": 90,
        "widths": (32,),
        "scans_since": "2026-12-01T00:00:00Z",
    }
    return health.Facts(**{**base, **fields})


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        # 32 B key + 8 B header = 40 B (aligned) + 4 B line pointer = 44 B a tuple;
        # 100,000 tuples / (8152 * 0.9 / 44) a page = 600 leaves + 4 internal + 1 meta = 605.
        pytest.param({"size_bytes": 605 * health.BLOCK}, 0.0, id="fresh"),
        pytest.param({"size_bytes": 1210 * health.BLOCK}, 50.0, id="twice-as-big"),
        pytest.param({"size_bytes": 500 * health.BLOCK}, 0.0, id="never-negative"),
        pytest.param({"size_bytes": 9 * health.BLOCK}, 0.0, id="tiny"),
        pytest.param({"method": "gin"}, None, id="not-btree"),
        pytest.param({"widths": (32, None)}, None, id="missing-stats"),
        pytest.param({"widths": ()}, None, id="no-stats"),
        pytest.param({"tuples": -1.0}, None, id="never-analyzed"),
        pytest.param({"size_bytes": None}, None, id="locked"),
    ],
)
def test_btree_bloat_percent(fields: dict[str, Any], expected: float | None) -> None:
    assert health.btree_bloat_percent(facts(**fields)) == expected


def test_fillfactor_from_reloptions() -> None:
    row = {
        "size_bytes": 1,
        "method": "btree",
        "scans": 0,
        "tuples": 1,
        "reloptions": ["deduplicate_items=off", "fillfactor=70"],
        "widths": "[4]",
        "stats_reset": None,
        "server_start": NOW,
    }
    found = health.facts_from_row(row)
    assert found.fillfactor == 70 and found.widths == (4,)
    assert found.scans_since == "2026-12-03T12:00:00Z"
    assert health.facts_from_row({**row, "reloptions": None, "method": "hash"}).fillfactor == 100


def test_scan_bookkeeping_and_unused() -> None:
    first = health.status(facts(), now=NOW, previous=None, unused_after=60)
    assert first["scansUnchangedSince"] == "2026-12-03T12:00:00Z" and not first["unused"]
    later = NOW + datetime.timedelta(seconds=61)
    same = health.status(facts(), now=later, previous=first, unused_after=60)
    assert same["scansUnchangedSince"] == first["scansUnchangedSince"] and same["unused"]
    used = health.status(facts(scans=6), now=later, previous=same, unused_after=60)
    assert used["scansUnchangedSince"] == "2026-12-03T12:01:01Z" and not used["unused"]
    reset = health.status(
        facts(scans_since="2026-12-03T12:00:30Z"), now=later, previous=same, unused_after=60
    )
    assert not reset["unused"], "a statistics reset starts observing again"


def test_rendered_health_and_informational_unused_condition() -> None:
    report = status.Report(
        phase=status.READY,
        reason="IndexValid",
        message="valid",
        health={"sizeBytes": 8192, "scans": 0, "scansSince": "x", "unused": True},
    )
    rendered = status.render(report, generation=1, previous={}, now="t")
    assert rendered["health"] == {"sizeBytes": 8192, "scans": 0, "scansSince": "x"}
    unused = status.condition(rendered, "Unused")
    assert unused["status"] == "True" and unused["reason"] == "NoScans"
    assert status.condition(rendered, "Degraded")["status"] == "False"
    assert status.condition(rendered, "Ready")["status"] == "True"
