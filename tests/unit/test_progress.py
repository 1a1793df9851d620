"""progress: phase slices, a percent that never goes backwards, counters and blockers."""

from __future__ import annotations

from typing import Any

import pytest

from dbindex_operator.core import catalog, progress


def _row(phase: str | None, **counters: Any) -> catalog.Progress:
    return catalog.Progress(pid=4242, phase=phase, **counters)


@pytest.mark.parametrize(
    ("row", "previous", "expected"),
    [
        pytest.param(_row(None), 0, 0, id="no-row-yet"),
        pytest.param(_row(None), 37, 37, id="no-row-keeps-previous"),
        pytest.param(_row("initializing"), 0, 0, id="initializing"),
        pytest.param(
            _row("waiting for writers before build", lockers_total=4, lockers_done=2),
            0,
            3,
            id="writers-before-build-half",
        ),
        pytest.param(_row("building index: scanning table"), 0, 5, id="scan-start-no-total"),
        pytest.param(
            _row("building index: scanning table", blocks_total=100, blocks_done=50),
            0,
            25,
            id="scan-half",
        ),
        pytest.param(
            _row("building index: scanning table", blocks_total=100, blocks_done=100),
            0,
            45,
            id="scan-done",
        ),
        pytest.param(
            _row("building index: scanning table", blocks_total=100, blocks_done=250),
            0,
            45,
            id="scan-overshoot-clamped",
        ),
        pytest.param(
            _row("building index: sorting live tuples", blocks_total=100, blocks_done=100),
            0,
            45,
            id="sorting-ignores-stale-blocks",
        ),
        pytest.param(
            _row("building index: loading tuples in tree", tuples_total=10, tuples_done=5),
            0,
            55,
            id="loading-half",
        ),
        pytest.param(
            _row("building index", blocks_total=10, blocks_done=5), 0, 32, id="plain-building"
        ),
        pytest.param(
            _row("building index: scanning graph", blocks_total=10, blocks_done=5),
            0,
            32,
            id="other-am-subphase",
        ),
        pytest.param(
            _row("waiting for writers before validation", lockers_total=0),
            0,
            60,
            id="writers-before-validation",
        ),
        pytest.param(
            _row("index validation: scanning index", blocks_total=4, blocks_done=2),
            0,
            69,
            id="validation-index-half",
        ),
        pytest.param(_row("index validation: sorting tuples"), 0, 75, id="validation-sort"),
        pytest.param(
            _row("index validation: scanning table", blocks_total=10, blocks_done=10),
            0,
            95,
            id="validation-table-done",
        ),
        pytest.param(
            _row("waiting for old snapshots", lockers_total=3, lockers_done=3),
            0,
            98,
            id="old-snapshots-done",
        ),
        pytest.param(
            _row("waiting for readers before marking dead", lockers_total=1, lockers_done=1),
            0,
            99,
            id="reindex-marking-dead-never-100",
        ),
        pytest.param(
            _row("waiting for readers before dropping", lockers_total=1, lockers_done=1),
            0,
            99,
            id="reindex-dropping-never-100",
        ),
        pytest.param(_row("some future phase", blocks_total=10, blocks_done=9), 0, 0, id="unknown"),
        pytest.param(_row("some future phase"), 80, 80, id="unknown-keeps-previous"),
        pytest.param(
            _row("building index: scanning table", blocks_total=100, blocks_done=10),
            60,
            60,
            id="never-below-previous",
        ),
        pytest.param(_row("initializing"), 99, 99, id="previous-99-kept"),
    ],
)
def test_percent(row: catalog.Progress, previous: int, expected: int) -> None:
    assert progress.percent(row, previous) == expected


# A CIC of a btree as pg_stat_progress_create_index shows it, phase by phase, with the
# counters of earlier phases going stale (they are not reset when the phase moves on).
_CIC_SEQUENCE = [
    _row(None),
    _row("initializing"),
    _row("waiting for writers before build", lockers_total=2, lockers_done=0),
    _row("waiting for writers before build", lockers_total=2, lockers_done=1),
    _row("waiting for writers before build", lockers_total=2, lockers_done=2),
    _row("building index: scanning table", blocks_total=1000, blocks_done=0),
    _row("building index: scanning table", blocks_total=1000, blocks_done=400),
    _row("building index: scanning table", blocks_total=1000, blocks_done=1000),
    _row("building index: sorting live tuples", blocks_total=1000, blocks_done=1000),
    _row(
        "building index: loading tuples in tree",
        blocks_total=1000,
        blocks_done=1000,
        tuples_total=50000,
        tuples_done=0,
    ),
    _row(
        "building index: loading tuples in tree",
        blocks_total=1000,
        blocks_done=1000,
        tuples_total=50000,
        tuples_done=50000,
    ),
    _row("waiting for writers before validation", lockers_total=1, lockers_done=0),
    _row("waiting for writers before validation", lockers_total=1, lockers_done=1),
    _row("index validation: scanning index", blocks_total=300, blocks_done=0),
    _row("index validation: scanning index", blocks_total=300, blocks_done=300),
    _row("index validation: sorting tuples", blocks_total=300, blocks_done=300),
    _row("index validation: scanning table", blocks_total=1000, blocks_done=0),
    _row("index validation: scanning table", blocks_total=1000, blocks_done=700),
    _row("index validation: scanning table", blocks_total=1000, blocks_done=1000),
    _row("waiting for old snapshots", lockers_total=5, lockers_done=0),
    _row("waiting for old snapshots", lockers_total=5, lockers_done=5),
]


def test_realistic_cic_sequence_never_goes_backwards() -> None:
    seen = []
    current = 0
    for row in _CIC_SEQUENCE:
        current = progress.percent(row, current)
        seen.append(current)

    assert seen == [0, 0, 1, 3, 5, 5, 21, 45, 45, 50, 60, 60, 63, 63, 75, 75, 78, 89, 95, 95, 98]
    assert seen == sorted(seen)
    assert max(seen) < 100


def test_each_phase_alone_is_not_below_the_previous_phase() -> None:
    """Without carrying `previous`, the slices themselves already rise phase by phase."""
    fresh = [progress.percent(row) for row in _CIC_SEQUENCE]
    assert fresh == sorted(fresh)


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        pytest.param(_row(None, blocks_total=5), {}, id="no-row"),
        pytest.param(_row("initializing", blocks_total=5), {}, id="initializing"),
        pytest.param(
            _row(
                "waiting for writers before build",
                lockers_total=3,
                lockers_done=1,
                blocks_total=9,
            ),
            {"lockersDone": 1, "lockersTotal": 3},
            id="lockers-only",
        ),
        pytest.param(
            _row(
                "building index: scanning table",
                blocks_total=100,
                blocks_done=7,
                tuples_total=9,
                lockers_total=2,
            ),
            {"blocksDone": 7, "blocksTotal": 100},
            id="blocks-only",
        ),
        pytest.param(
            _row(
                "building index: loading tuples in tree",
                blocks_total=100,
                blocks_done=100,
                tuples_total=40,
                tuples_done=10,
            ),
            {"tuplesDone": 10, "tuplesTotal": 40},
            id="tuples-only",
        ),
        pytest.param(
            _row("building index: sorting live tuples", blocks_total=100, blocks_done=100),
            {},
            id="sorting-has-none",
        ),
        pytest.param(
            _row("index validation: scanning table", blocks_total=8, blocks_done=2),
            {"blocksDone": 2, "blocksTotal": 8},
            id="validation-blocks",
        ),
        pytest.param(_row("unknown phase", blocks_total=8), {}, id="unknown-phase"),
    ],
)
def test_counters(row: catalog.Progress, expected: dict[str, int]) -> None:
    assert progress.counters(row) == expected


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        pytest.param(_row(None), (0, []), id="no-row-no-blockers"),
        pytest.param(
            _row(None, blocking_pids=(30, 10)), (0, [10, 30]), id="no-row-with-blocking-pids"
        ),
        pytest.param(
            _row(
                "waiting for old snapshots",
                current_locker_pid=20,
                blocking_pids=(30, 10),
            ),
            (20, [10, 20, 30]),
            id="locker-and-blocking-sorted",
        ),
        pytest.param(
            _row(
                "waiting for writers before build",
                current_locker_pid=10,
                blocking_pids=(10,),
            ),
            (10, [10]),
            id="no-duplicates",
        ),
        pytest.param(
            _row(
                "building index: scanning table",
                current_locker_pid=20,
                blocking_pids=(10,),
            ),
            (0, []),
            id="not-waiting",
        ),
    ],
)
def test_blockers(row: catalog.Progress, expected: tuple[int, list[int]]) -> None:
    assert progress.blockers(row) == expected


@pytest.mark.parametrize(
    ("phase", "text", "waiting"),
    [
        pytest.param(None, "waiting for table lock", True, id="no-row"),
        pytest.param("initializing", "initializing", False, id="initializing"),
        pytest.param(
            "waiting for writers before build",
            "waiting for writers before build",
            True,
            id="writers",
        ),
        pytest.param(
            "waiting for old snapshots", "waiting for old snapshots", True, id="snapshots"
        ),
        pytest.param(
            "building index: scanning table",
            "building index: scanning table",
            False,
            id="building",
        ),
        pytest.param(
            "index validation: scanning table",
            "index validation: scanning table",
            False,
            id="validation",
        ),
    ],
)
def test_phase_text_and_is_waiting(phase: str | None, text: str, waiting: bool) -> None:
    row = _row(phase)
    assert (progress.phase_text(row), progress.is_waiting(row)) == (text, waiting)
