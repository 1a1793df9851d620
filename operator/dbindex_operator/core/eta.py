"""When will a running CREATE INDEX CONCURRENTLY end? Pure: progress rows and a clock in.

PostgreSQL reports one counter per phase (blocks while scanning, tuples while loading the tree)
and nothing about the phases to come. So the estimate has two parts:

  1. the rest of the current phase, from the rate of its own counter over the last few samples,
     used only when that rate is stable (every step of the window within RATE_SPREAD of the
     others): the first samples of a phase and a stalling scan say nothing;
  2. the phases after it, from the working time the build has taken so far (this phase
     included, to its predicted end) and the share of a build's time those phases usually take
     (measured on PostgreSQL 15, one profile for column keys and one for expressions or a
     predicate, which make the table scan the longest phase; docs/eta.md). Once the scan is
     over, only the time since the scan and the shares of the phases after it count: those
     phases scale with the tuples, while the scan's length depends on the key's cost.

Phases without a counter (the sorts) keep counting down the last stable estimate; waiting phases
(for writers, for old snapshots) are unbounded, so there is no estimate while waiting, and the
time spent waiting does not count as work. The `Estimator` is an immutable value: the executor
that polls the progress keeps the newest one and feeds it each row.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Final

from dbindex_operator.core import catalog, progress
from dbindex_operator.core import spec as specs

WINDOW: Final = 4
"""Samples of the current phase's counter the rate is taken over (3 steps)."""

RATE_SPREAD: Final = 0.5
"""A rate is stable when every step's rate is within this fraction of the window's rate."""

# Share of a btree CIC's working time each phase took (3M rows, maintenance_work_mem 1MB;
# docs/eta.md has the runs). Waiting phases have none: their length depends on other sessions.
# Plain column keys: the sort and the validation weigh as much as the table scan.
COLUMNS: Final[dict[str, float]] = {
    "initializing": 0.0,
    "building index: scanning table": 0.225,
    "building index: sorting live tuples": 0.285,
    "building index: loading tuples in tree": 0.14,
    "index validation: scanning index": 0.085,
    "index validation: sorting tuples": 0.15,
    "index validation: scanning table": 0.115,
}
# Expression keys or a WHERE predicate: evaluated for every row of the build's scan (and only
# for rows added meanwhile during validation), so the scan takes most of the time.
EXPRESSIONS: Final[dict[str, float]] = {
    "initializing": 0.0,
    "building index: scanning table": 0.60,
    "building index: sorting live tuples": 0.125,
    "building index: loading tuples in tree": 0.12,
    "index validation: scanning index": 0.05,
    "index validation: sorting tuples": 0.045,
    "index validation: scanning table": 0.06,
}
PROFILES: Final = {"columns": COLUMNS, "expressions": EXPRESSIONS}
SCAN: Final = "building index: scanning table"
ORDER: Final = tuple(COLUMNS)


def profile(spec: specs.IndexSpec) -> str:
    """Which shares fit the index: "expressions" when rows are evaluated during the scan."""
    evaluated = spec.where is not None or any(key.expression for key in spec.keys)
    return "expressions" if evaluated else "columns"


@dataclasses.dataclass(frozen=True)
class Sample:
    at: float  # clock seconds
    done: int
    total: int


@dataclasses.dataclass(frozen=True)
class Estimator:
    """What the estimate needs to remember between progress rows."""

    profile: str = "columns"  # a key of PROFILES
    phase: str | None = None
    phase_started: float = 0.0
    worked: float = 0.0  # seconds spent in working (not waiting) phases before this one
    scanned: float = 0.0  # of which in the build's table scan
    samples: tuple[Sample, ...] = ()  # the current phase's counter, newest last
    finish: float | None = None  # clock time the last stable estimate expects the end
    total: float | None = None  # the working seconds the last stable estimate expects in all


def observe(estimator: Estimator, row: catalog.Progress, now: float) -> Estimator:
    """The estimator after one more progress row seen at clock time `now`."""
    phase = row.phase
    current = estimator
    if phase != estimator.phase:
        worked, scanned = estimator.worked, estimator.scanned
        if _working(estimator.phase):
            took = max(now - estimator.phase_started, 0.0)
            worked += took
            if _scanning(estimator.phase):
                scanned += took
        current = dataclasses.replace(
            estimator, phase=phase, phase_started=now, worked=worked, scanned=scanned, samples=()
        )
    if not _working(phase):
        return current
    counts = progress.counters(row)
    done, total = counts.get("blocksDone"), counts.get("blocksTotal")
    if done is None:
        done, total = counts.get("tuplesDone"), counts.get("tuplesTotal")
    if done is None or not total:
        return current  # no counter in this phase: the last estimate keeps counting down
    samples = (*current.samples, Sample(now, done, total))[-WINDOW:]
    current = dataclasses.replace(current, samples=samples)
    rate = stable_rate(samples)
    if rate is None:
        return current
    assert phase is not None
    phase_left = max(total - done, 0) / rate
    shares, worked = PROFILES[current.profile], current.worked
    if not _scanning(phase):
        # After the scan, the later phases are measured against the time since the scan: they
        # scale with the tuples, the scan with what evaluating the key costs (docs/eta.md).
        shares = {p: share for p, share in shares.items() if p != SCAN}
        worked -= current.scanned
    through = worked + (now - current.phase_started) + phase_left
    share_through, share_after = _shares(shares, phase)
    expected_total = through / share_through if share_through > 0 else through
    left = phase_left + expected_total * share_after
    return dataclasses.replace(current, finish=now + left, total=expected_total)


def seconds(estimator: Estimator, now: float) -> int | None:
    """Whole seconds until the build ends, or None when there is no honest answer (waiting, no
    stable rate seen yet, or the last estimate has run out)."""
    if not _working(estimator.phase) or estimator.finish is None:
        return None
    left = estimator.finish - now
    if left <= 0:
        return None
    return max(round(left), 1)


def stable_rate(samples: tuple[Sample, ...]) -> float | None:
    """Units per second over the samples, if every step agrees with it; else None."""
    if len(samples) < WINDOW:
        return None
    first, last = samples[0], samples[-1]
    if last.total != first.total or last.at <= first.at or last.done <= first.done:
        return None
    rate = (last.done - first.done) / (last.at - first.at)
    for before, after in itertools.pairwise(samples):
        if after.at <= before.at:
            return None
        step = (after.done - before.done) / (after.at - before.at)
        if abs(step - rate) > RATE_SPREAD * rate:
            return None
    return rate


def _scanning(phase: str | None) -> bool:
    """The build's table scan (other access methods: their one build phase)."""
    if phase is None or not phase.startswith("building index"):
        return False
    return phase == SCAN or phase not in COLUMNS


def _working(phase: str | None) -> bool:
    return phase is not None and not phase.startswith("waiting")


def _shares(shares: dict[str, float], phase: str) -> tuple[float, float]:
    """(share of the build up to the end of `phase`, share of the phases after it)."""
    if phase not in ORDER:
        # Another access method's one "building index[: ...]" phase stands for all of btree's
        # build sub-phases; the same validation phases follow it.
        if phase.startswith("building index"):
            phase = ORDER[3]
        else:
            return 1.0, 0.0
    position = ORDER.index(phase)
    through = sum(shares.get(p, 0.0) for p in ORDER[: position + 1])
    after = sum(shares.get(p, 0.0) for p in ORDER[position + 1 :])
    return through, after
