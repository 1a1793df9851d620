"""The bench's own arithmetic, pure and unit-tested: ratios, percentiles, target checks."""

from __future__ import annotations

import dataclasses
import math
import operator
from collections.abc import Sequence
from typing import Any

_OPS = {"<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt}


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator; a zero or negative denominator is an error, not infinity."""
    if not denominator > 0:
        raise ValueError(f"ratio: the denominator must be positive, got {denominator!r}")
    if numerator < 0:
        raise ValueError(f"ratio: the numerator must not be negative, got {numerator!r}")
    return numerator / denominator


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation between closest ranks (the
    default of numpy.percentile and of spreadsheet PERCENTILE.INC)."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile: q must be within 0..100, got {q!r}")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = math.ceil(position)
    if low == high:
        return float(ordered[low])
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


def per_second(count: float, seconds: float) -> float:
    if not seconds > 0:
        raise ValueError(f"per_second: the duration must be positive, got {seconds!r}")
    return count / seconds


def cpu_share(cpu_seconds: float, wall_seconds: float) -> float:
    """CPU time over wall time: the share of ONE core (1.0 = a whole core)."""
    return per_second(cpu_seconds, wall_seconds)


def per_database_per_resync(
    queries: float, databases: int, window_seconds: float, resync_interval: float
) -> float:
    """Catalog queries per database per resync interval, from a counter delta over a window."""
    if databases < 1:
        raise ValueError("per_database_per_resync: need at least one database")
    if not resync_interval > 0:
        raise ValueError("per_database_per_resync: the resync interval must be positive")
    intervals = per_second(window_seconds, resync_interval)
    return queries / databases / intervals


def settle_time(
    samples: Sequence[tuple[float, float]],
    quiet: float,
    minimum: float = 1,
    initial: float | None = None,
) -> float | None:
    """When a counter settled: the time of its last change before the first gap of at least
    `quiet` seconds without change, counting only once it has reached `minimum`.

    `samples` are (time, value) pairs in time order; `initial` is the value before the first
    sample (e.g. 0 for a counter of a process started just before), so a first sample that
    differs from it counts as a change. None if it never settled."""
    last_change: float | None = None
    previous: float | None = initial
    for when, value in samples:
        if previous is not None and value != previous:
            last_change = when
        previous = value
        if last_change is not None and value >= minimum and when - last_change >= quiet:
            return last_change
    return None


@dataclasses.dataclass(frozen=True)
class Check:
    """One figure against one target, e.g. ratio <= 0.8."""

    name: str
    value: float | None
    op: str
    limit: float
    unit: str = ""
    against: str = ""  # what a ratio divides by, e.g. "psql 12.10 s" (the table's limit column)

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise ValueError(f"unknown comparison {self.op!r}")

    @property
    def met(self) -> bool:
        """False when the figure is missing or not a number: a missing figure meets nothing."""
        if self.value is None or isinstance(self.value, bool) or math.isnan(self.value):
            return False
        return bool(_OPS[self.op](self.value, self.limit))

    @property
    def target(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.op} {_number(self.limit)}{unit}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "op": self.op,
            "limit": self.limit,
            "unit": self.unit,
            "target": self.target,
            "met": self.met,
            "against": self.against,
        }


def _number(value: float) -> str:
    return f"{value:g}"


def fmt(value: float | None, digits: int = 2) -> str:
    """A figure for the table: '-' when missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}"
