"""Maintenance windows: when an index build, replacement or leftover drop may start. Pure: the
clock is an argument.

A window is a cron expression for its start, a duration and an IANA time zone. Cron times are
evaluated with cronsim (maintained, small, and documented DST behaviour: a start that falls in a
spring-forward gap fires at the first valid minute after it; a start in a fall-back overlap fires
once, at its first occurrence) in that zone, with zoneinfo.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
import zoneinfo
from collections.abc import Mapping
from typing import Any

import cronsim

from dbindex_operator.core import actions, errors

_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?\Z")
MAX_DURATION = datetime.timedelta(days=7)
_PAGE_BYTES = 8192  # PostgreSQL's default block size: relpages -> bytes


@dataclasses.dataclass(frozen=True)
class Window:
    schedule: str
    duration: datetime.timedelta
    time_zone: str = "UTC"

    def last_start(self, now: datetime.datetime) -> datetime.datetime:
        """The latest start at or before `now`."""
        local = now.astimezone(zoneinfo.ZoneInfo(self.time_zone))
        # cronsim excludes its origin: from the next whole minute back, a start at `now` counts.
        after = local.replace(second=0, microsecond=0) + datetime.timedelta(minutes=1)
        start: datetime.datetime = next(cronsim.CronSim(self.schedule, after, reverse=True))
        return start.astimezone(datetime.UTC)  # in UTC: wall times in a fold never compare equal

    def next_start(self, now: datetime.datetime) -> datetime.datetime:
        local = now.astimezone(zoneinfo.ZoneInfo(self.time_zone))
        start: datetime.datetime = next(cronsim.CronSim(self.schedule, local))
        return start.astimezone(datetime.UTC)

    def is_open(self, now: datetime.datetime) -> bool:
        start = self.last_start(now)
        return start <= now < start + self.duration


@dataclasses.dataclass(frozen=True)
class Policy:
    """spec.window (or DBINDEX_DEFAULT_WINDOW): when work may start."""

    windows: tuple[Window, ...]
    min_table_bytes: int = 0  # a first build on a table smaller than this needs no window
    cancel_outside: bool = False  # cancel a build still running when its window closes

    def is_open(self, now: datetime.datetime) -> bool:
        return any(window.is_open(now) for window in self.windows)

    def next_start(self, now: datetime.datetime) -> datetime.datetime:
        return min(window.next_start(now) for window in self.windows)


def parse(raw: Mapping[str, Any], field: str = "window") -> Policy:
    """{windows: [{schedule, duration, timeZone}], minTableBytes, cancelOutsideWindow}."""
    if not isinstance(raw, Mapping):
        raise errors.SpecError(f"{field} must be an object")
    entries = raw.get("windows")
    if not isinstance(entries, list) or not entries:
        raise errors.SpecError(f"{field}.windows must list at least one window")
    windows = tuple(_window(entry, f"{field}.windows[{i}]") for i, entry in enumerate(entries))
    min_bytes = raw.get("minTableBytes", 0)
    if not isinstance(min_bytes, int) or isinstance(min_bytes, bool) or min_bytes < 0:
        raise errors.SpecError(f"{field}.minTableBytes must be a non-negative integer")
    cancel = raw.get("cancelOutsideWindow", False)
    if not isinstance(cancel, bool):
        raise errors.SpecError(f"{field}.cancelOutsideWindow must be true or false")
    return Policy(windows, min_bytes, cancel)


def _window(entry: Any, field: str) -> Window:
    if not isinstance(entry, Mapping):
        raise errors.SpecError(f"{field} must be an object")
    schedule, zone = entry.get("schedule"), entry.get("timeZone", "UTC")
    if not isinstance(schedule, str):
        raise errors.SpecError(f"{field}.schedule must be a cron expression")
    try:
        cronsim.CronSim(schedule, datetime.datetime(2000, 1, 1))
    except (cronsim.CronSimError, ValueError):
        raise errors.SpecError(
            f"{field}.schedule is not a valid cron expression: {schedule!r}"
        ) from None
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        raise errors.SpecError(f"{field}.timeZone is not an IANA time zone: {zone!r}") from None
    return Window(schedule, duration(entry.get("duration"), f"{field}.duration"), zone)


def duration(value: Any, field: str) -> datetime.timedelta:
    """'4h', '90m', '1h30m', '45s' -> timedelta (more than 0, at most 7 days)."""
    found = _DURATION.match(value) if isinstance(value, str) and value else None
    if found is None:
        raise errors.SpecError(f"{field} must be a duration like 4h, 90m or 1h30m")
    hours, minutes, seconds = (int(part or 0) for part in found.groups())
    result = datetime.timedelta(hours=hours, minutes=minutes, seconds=seconds)
    if not datetime.timedelta(0) < result <= MAX_DURATION:
        raise errors.SpecError(f"{field} must be more than 0 and at most 7 days")
    return result


def gate(
    action: actions.Action,
    table_pages: int,
    managed: bool,
    window: Policy,
    now: datetime.datetime,
) -> actions.Action:
    """Work starts only inside the window. Exempt: reading the definition; a first build on a
    table under window.minTableBytes; with cancelOutsideWindow, dropping the INVALID leftovers
    that cancelling leaves (they must not linger until the next window)."""
    if (
        not isinstance(action, actions.Work)
        or isinstance(action, actions.Probe)
        or window.is_open(now)
    ):
        return action
    small = table_pages * _PAGE_BYTES < window.min_table_bytes
    if isinstance(action, actions.Build) and action.drift is None and not managed and small:
        return action
    drops = (actions.DropLeftover, actions.DropReplacement, actions.DropPartitionLeftover)
    if window.cancel_outside and isinstance(action, drops):
        return action
    start = window.next_start(now).strftime("%Y-%m-%dT%H:%M:%SZ")
    return actions.Wait(
        "Waiting",
        "OutsideMaintenanceWindow",
        f"outside the maintenance window; the next one starts at {start}",
        next_window=start,
    )
