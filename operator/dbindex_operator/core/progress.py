"""Turn pg_stat_progress_create_index rows into a phase and a percent that never goes backwards.

Counters are only meaningful in their own phase, so each phase owns a slice of 0..100 and the
phase's own counter moves within it. Weights follow what POSTGRES.md measured: the build is
roughly 55-75% of the time, validation 20-30%, waits are unbounded and get thin slices.
"""

from __future__ import annotations

from dbindex_operator.core import catalog

WAITING_FOR_LOCK = "waiting for table lock"

# phase text -> (start, end, counter); counter picks which done/total pair moves within the slice.
_SLICES: dict[str, tuple[int, int, str | None]] = {
    "initializing": (0, 1, None),
    "waiting for writers before build": (1, 5, "lockers"),
    "building index": (5, 60, "blocks"),
    "building index: scanning table": (5, 45, "blocks"),
    "building index: sorting live tuples": (45, 50, None),
    "building index: loading tuples in tree": (50, 60, "tuples"),
    "waiting for writers before validation": (60, 63, "lockers"),
    "index validation: scanning index": (63, 75, "blocks"),
    "index validation: sorting tuples": (75, 78, None),
    "index validation: scanning table": (78, 95, "blocks"),
    "waiting for old snapshots": (95, 98, "lockers"),
    "waiting for readers before marking dead": (98, 99, "lockers"),
    "waiting for readers before dropping": (98, 99, "lockers"),
}
_OTHER_BUILD_SUBPHASE = (5, 60, "blocks")  # other access methods' "building index: ..." phases


def phase_text(row: catalog.Progress) -> str:
    return row.phase or WAITING_FOR_LOCK


def is_waiting(row: catalog.Progress) -> bool:
    return row.phase is None or row.phase.startswith("waiting")


def percent(row: catalog.Progress, previous: int = 0) -> int:
    """Percent complete of a running build; never below `previous`, never 100 (that is Ready)."""
    if row.phase is None:
        return previous
    start, end, counter = _slice(row.phase)
    done, total = _counter(row, counter)
    fraction = min(done / total, 1.0) if total > 0 else 0.0
    value = int(start + (end - start) * fraction)
    return max(previous, min(value, 99))


def counters(row: catalog.Progress) -> dict[str, int]:
    """Only the counters that mean something in the current phase (the others go stale)."""
    if row.phase is None:
        return {}
    _, _, counter = _slice(row.phase)
    done, total = _counter(row, counter)
    if counter is None:
        return {}
    return {f"{counter}Done": done, f"{counter}Total": total}


def blockers(row: catalog.Progress) -> tuple[int, list[int]]:
    """(current locker pid, every blocking pid) while waiting; (0, []) otherwise."""
    if not is_waiting(row):
        return 0, []
    pids = set(row.blocking_pids)
    if row.current_locker_pid:
        pids.add(row.current_locker_pid)
    return row.current_locker_pid, sorted(pids)


def _slice(phase: str) -> tuple[int, int, str | None]:
    if phase in _SLICES:
        return _SLICES[phase]
    return _OTHER_BUILD_SUBPHASE if phase.startswith("building index") else (0, 0, None)


def _counter(row: catalog.Progress, counter: str | None) -> tuple[int, int]:
    if counter == "blocks":
        return row.blocks_done, row.blocks_total
    if counter == "tuples":
        return row.tuples_done, row.tuples_total
    if counter == "lockers":
        return row.lockers_done, row.lockers_total
    return 0, 0
