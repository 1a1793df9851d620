"""Where the operator's time goes, from timestamps that cost the operator nothing: its own log
lines (millisecond times), the bench's watch of the objects, and pg_stat_activity's
backend_start / query_start of the build session. Pure: parsing and arithmetic, unit-tested.

All moments are epoch seconds (time.time() on this machine: the operator, PostgreSQL and the
bench share its clock).
"""

from __future__ import annotations

import dataclasses
import datetime
import re
from collections.abc import Mapping, Sequence

# [2026-12-03 12:49:55,967] dbindex_operator.run [INFO    ] ns/name: building public.x on ...
_LINE = re.compile(
    r"^\[(?P<when>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\] \S+ \[\w+\s*\] "
    r"(?P<label>[^\s:]+/[^\s:]+): (?P<what>building |built in )"
)


@dataclasses.dataclass
class Build:
    """One build as the operator logged it: when it decided to build (after its pass, just
    before connecting) and when the build returned (CIC and validity check done)."""

    label: str  # namespace/name
    decided: float
    ended: float | None = None


def log_time(text: str) -> float:
    """The operator's log time ('2026-12-03 12:49:55,967', local time) as epoch seconds."""
    moment = datetime.datetime.strptime(text, "%Y-%m-%d %H:%M:%S,%f")
    return moment.timestamp()  # naive: local time, as Python's logging writes it


def builds(log: str, since: float) -> dict[str, Build]:
    """The first build of each object logged at or after `since` (one operator process serves
    several rounds: earlier rounds' lines are older)."""
    found: dict[str, Build] = {}
    for line in log.splitlines():
        match = _LINE.match(line)
        if match is None:
            continue
        when = log_time(match["when"])
        if when < since - 0.001:  # the log has millisecond resolution
            continue
        label = match["label"]
        if match["what"] == "building ":
            found.setdefault(label, Build(label, when))
        elif label in found and found[label].ended is None:
            found[label].ended = when
    return found


def overhead(
    *,
    apply_started: float,
    apply_ended: float,
    seen: float | None,
    decided: float | None,
    connected: float | None,
    cic_started: float | None,
    cic_ended: float | None,
    ready: float,
) -> dict[str, float | None]:
    """The operator side of one build cut into consecutive steps, each in seconds (None where
    a moment is unknown), which add up to the total: kubectl's start to the object's watch
    event (the bench's own watch sees it as the operator's does); the operator's reaction up to
    its decision to build (Kopf, the worker's pass and catalog read); the build connection; the
    connection to the CIC's start (session set-up, the advisory lock and the catalog re-read
    under it); the CIC itself; the CIC's end to Ready in status as the watch delivers it.
    kubectl's own wall time is given beside them: it ends after the event has been sent."""
    moments = [
        ("apply_to_watch_event_s", apply_started, seen),
        ("watch_event_to_decision_s", seen, decided),
        ("decision_to_connected_s", decided, connected),
        ("connected_to_cic_start_s", connected, cic_started),
        ("cic_s", cic_started, cic_ended),
        ("cic_end_to_ready_s", cic_ended, ready),
    ]
    steps: dict[str, float | None] = {}
    for name, start, end in moments:
        steps[name] = None if start is None or end is None else round(end - start, 3)
    steps["kubectl_apply_s"] = round(apply_ended - apply_started, 3)
    steps["apply_to_cic_start_s"] = (
        None if cic_started is None else round(cic_started - apply_started, 3)
    )
    steps["total_s"] = round(ready - apply_started, 3)
    return steps


def last_build_to_ready(found: Mapping[str, Build], ready: float) -> float | None:
    """From the last build's end to the moment every object was Ready (the watch's view)."""
    ends = [b.ended for b in found.values() if b.ended is not None]
    return None if not ends else round(ready - max(ends), 3)


def start_order(found: Mapping[str, Build]) -> list[str]:
    """Object names in the order the operator started their builds."""
    return [b.label.split("/", 1)[1] for b in sorted(found.values(), key=lambda b: b.decided)]


def busy_seconds(spans: Sequence[tuple[float, float]]) -> float:
    """Seconds during which at least one span runs (builds overlapping count once)."""
    total = 0.0
    reach: float | None = None
    for start, end in sorted(spans):
        if reach is None or start > reach:
            total += end - start
            reach = end
        elif end > reach:
            total += end - reach
            reach = end
    return total
