"""core/eta.py: the ETA from the current phase's counter rate and the shares of later phases."""

from __future__ import annotations

from typing import Any

import pytest

from dbindex_operator.core import catalog, eta
from dbindex_operator.core import spec as specs

SCAN = "building index: scanning table"
SORT = "building index: sorting live tuples"
LOAD = "building index: loading tuples in tree"
VALIDATE_TABLE = "index validation: scanning table"
WAIT = "waiting for writers before validation"


def steps(*pairs: tuple[float, int], total: int = 100) -> list[eta.Sample]:
    return [eta.Sample(at, done, total) for at, done in pairs]


def row(
    phase: str | None, blocks: tuple[int, int] = (0, 0), tuples: tuple[int, int] = (0, 0)
) -> catalog.Progress:
    return catalog.Progress(
        pid=1,
        phase=phase,
        blocks_done=blocks[0],
        blocks_total=blocks[1],
        tuples_done=tuples[0],
        tuples_total=tuples[1],
    )


def feed(rows: list[tuple[float, catalog.Progress]]) -> eta.Estimator:
    estimator = eta.Estimator()
    for at, progress_row in rows:
        estimator = eta.observe(estimator, progress_row, at)
    return estimator


def scan(at: float, done: int, total: int = 1000) -> tuple[float, catalog.Progress]:
    return at, row(SCAN, blocks=(done, total))


@pytest.mark.parametrize(
    ("samples", "expected"),
    [
        pytest.param([], None, id="nothing"),
        pytest.param([eta.Sample(0, 0, 100)] * 3, None, id="too-few"),
        pytest.param([eta.Sample(i, 10 * i, 100) for i in range(4)], 10.0, id="steady"),
        pytest.param(
            steps((0, 0), (1, 10), (2, 40), (3, 45)),
            None,
            id="jumpy",
        ),
        pytest.param([eta.Sample(i, 5, 100) for i in range(4)], None, id="stalled"),
        pytest.param(
            [*steps((0, 0), (1, 10)), *steps((2, 20), (3, 30), total=200)],
            None,
            id="total-changed",
        ),
        pytest.param(
            steps((0, 0), (1, 12), (2, 20), (3, 30)),
            10.0,
            id="within-spread",
        ),
    ],
)
def test_stable_rate(samples: list[eta.Sample], expected: float | None) -> None:
    assert eta.stable_rate(tuple(samples)) == expected


def test_no_estimate_before_the_rate_is_stable() -> None:
    estimator = feed([scan(0, 0), scan(1, 10), scan(2, 20)])
    assert eta.seconds(estimator, 2) is None


def test_scan_phase_estimate_adds_the_later_phases_by_their_share() -> None:
    # 10 blocks/s: 970 blocks left -> 97 s of scanning; the scan is 22.5% of the build, so the
    # whole build is (3 + 97) / 0.225 s and 77.5% of that is still to come after the scan.
    estimator = feed([scan(0, 0), scan(1, 10), scan(2, 20), scan(3, 30)])
    expected = 97 + 100 / 0.225 * 0.775
    assert eta.seconds(estimator, 3) == round(expected)
    assert estimator.total == pytest.approx(100 / 0.225)


def test_expressions_make_the_scan_the_longest_phase() -> None:
    estimator = eta.Estimator(profile="expressions")
    for at, progress_row in [scan(0, 0), scan(1, 10), scan(2, 20), scan(3, 30)]:
        estimator = eta.observe(estimator, progress_row, at)
    assert eta.seconds(estimator, 3) == round(97 + 100 / 0.60 * 0.40)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param({"columns": [{"column": "a"}]}, "columns", id="columns"),
        pytest.param({"columns": [{"expression": "lower(a)"}]}, "expressions", id="expression"),
        pytest.param(
            {"columns": [{"column": "a"}], "where": "a > 0"}, "expressions", id="predicate"
        ),
    ],
)
def test_profile(spec: dict[str, Any], expected: str) -> None:
    parsed = specs.parse(
        {"connection": {"secretRef": {"name": "db"}}, "table": "t", **spec}, object_name="x"
    )
    assert eta.profile(parsed) == expected


def test_counts_down_through_a_phase_without_counter() -> None:
    estimator = feed([scan(0, 0), scan(1, 10), scan(2, 20), scan(3, 30)])
    first = eta.seconds(estimator, 3)
    assert first is not None
    estimator = eta.observe(estimator, row(SORT, tuples=(0, 5000)), 100)
    assert eta.seconds(estimator, 100) == first - 97


def test_load_phase_uses_tuples_and_time_worked() -> None:
    # 10 s scanned, 10 s sorted; loading at 100 tuples/s with 600 left -> 6 s. After the scan
    # only the time since it counts: sort + load (0.425) took 10 + 4 + 6 s, and validation
    # (0.35) follows in proportion.
    rows = [scan(0, 0), scan(10, 1000), (10, row(SORT, tuples=(0, 1000)))]
    rows += [(20 + i, row(LOAD, tuples=(100 * i, 1000))) for i in range(5)]
    estimator = feed(rows)
    assert estimator.worked == pytest.approx(20)
    assert estimator.scanned == pytest.approx(10)
    since_scan = (10 + 4 + 6) / (0.285 + 0.14)
    assert eta.seconds(estimator, 24) == round(6 + since_scan * (0.085 + 0.15 + 0.115))


def test_the_last_phase_has_nothing_after_it() -> None:
    rows = [(i, row(VALIDATE_TABLE, blocks=(100 * i, 1000))) for i in range(4)]
    assert eta.seconds(feed(rows), 3) == 7


def test_waiting_has_no_estimate_and_does_not_count_as_work() -> None:
    estimator = feed([scan(0, 0), scan(1, 10), scan(2, 20), scan(3, 30), (4, row(WAIT))])
    assert eta.seconds(estimator, 4) is None
    assert eta.seconds(eta.observe(estimator, row(None), 5), 5) is None
    estimator = eta.observe(estimator, row(VALIDATE_TABLE, blocks=(0, 10)), 60)
    assert estimator.worked == pytest.approx(4)  # the 56 s of waiting are not work


def test_an_estimate_that_ran_out_says_nothing() -> None:
    estimator = feed([scan(0, 0), scan(1, 10), scan(2, 20), scan(3, 30)])
    estimator = eta.observe(estimator, row(SORT), 3)
    assert eta.seconds(estimator, 10_000) is None


def test_other_access_methods_build_phase_counts_as_the_whole_build() -> None:
    rows = [(i, row("building index", blocks=(100 * i, 1000))) for i in range(4)]
    expected = 7 + 10 / 0.65 * 0.35
    assert eta.seconds(feed(rows), 3) == round(expected)


def test_at_least_one_second_while_running() -> None:
    rows = [(i / 10, row(VALIDATE_TABLE, blocks=(333 * i, 1000))) for i in range(4)]
    assert eta.seconds(feed(rows), 0.3) == 1


@pytest.mark.parametrize("name", sorted(eta.PROFILES))
def test_shares_cover_the_whole_build(name: str) -> None:
    assert sum(eta.PROFILES[name].values()) == pytest.approx(1.0)
    assert tuple(eta.PROFILES[name]) == eta.ORDER
