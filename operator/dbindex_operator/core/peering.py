"""How `dbindex-operator run` takes part in Kopf peering and which objects it serves. Pure.

Kopf peering is active/standby: every replica writes a keep-alive into one peering object;
a replica pauses while it sees a live peer of higher OR EQUAL priority. Equal priorities (the
default 0 in every pod of one Deployment) would pause them all, so each replica gets its own
priority by default: the OLDEST replica leads (the priority falls with the start time), so a
new pod of a rolling update never takes the lead from a running one; a random tie-break keeps
two pods started in the same second apart. When the leader dies, its keep-alive expires after
`lifetime` seconds and the next-oldest resumes: that is the failover time (docs/reliability.md).
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping
from typing import Any, Final

# Priorities fall by 1,000 per second of start time from this (far future) epoch second, so
# they stay positive for centuries and leave room for a tie-break below 1,000.
_EPOCH_END: Final = 10_000_000_000
TIEBREAK_RANGE: Final = 1000

DEFAULT_LIFETIME: Final = 20
"""Seconds a replica's keep-alive counts as alive. Kopf refreshes it 5 to 10 s before it runs
out (one PATCH of the peering object per replica per 10-15 s at 20 s); a standby resumes at the
latest `lifetime` seconds after the leader's last keep-alive. Kopf's own default is 60."""

MIN_LIFETIME: Final = 11
"""Kopf refreshes `max(1, lifetime - randint(5, 10))` seconds after the previous keep-alive:
below 11 s that interval hits its 1 s floor (a PATCH per second per replica), and below 6 s the
margin before the record expires, which a slow API server eats into, shrinks under 5 s."""


@dataclasses.dataclass(frozen=True)
class Options:
    """The `run` command's peering and sharding options, as the Kopf start-up applies them."""

    peering: str | None = None  # the (Cluster)KopfPeering object; None: standalone
    identity: str = ""  # this process's key in the peering object's status (given to Kopf)
    priority: int = 0
    lifetime: int = DEFAULT_LIFETIME
    selector: str | None = None  # a label selector the API server filters objects by


def auto_priority(started_at: float, tiebreak: int) -> int:
    """The peering priority of a replica started at `started_at` (Unix time): earlier starts
    get higher priorities; `tiebreak` (0 <= tiebreak < TIEBREAK_RANGE, random per process)
    separates replicas started within the same second."""
    if not 0 <= tiebreak < TIEBREAK_RANGE:
        raise ValueError(f"tiebreak must be in [0, {TIEBREAK_RANGE}), not {tiebreak}")
    return (_EPOCH_END - int(started_at)) * TIEBREAK_RANGE + tiebreak


def check_lifetime(seconds: int) -> int:
    """A peering lifetime Kopf can keep alive reliably (see MIN_LIFETIME)."""
    if seconds < MIN_LIFETIME:
        raise ValueError(f"the peering lifetime must be at least {MIN_LIFETIME}s, not {seconds}s")
    return seconds


def check_selector(selector: str) -> str:
    """A label selector for the API server: not empty (an empty selector would serve every
    object, silently overlapping every other shard). The server checks the syntax itself: a bad
    one fails the first LIST loudly."""
    if not selector.strip():
        raise ValueError("an empty label selector would select every object")
    return selector.strip()


def not_leading(
    peers: Mapping[str, Any], identity: str, priority: int, now: datetime.datetime
) -> str | None:
    """Why this replica is not the active one by the peering object's status (Kopf's format:
    identity -> {priority, lifetime, lastseen}), or None when it is: no OTHER live peer has a
    priority higher than or equal to ours, exactly the rule by which Kopf pauses a replica.
    A replica Kopf paused keeps the objects it already knew; checked before each DDL, this keeps
    it from starting new work on them."""
    for peer, info in sorted(peers.items()):
        if peer == identity or not isinstance(info, Mapping):
            continue
        try:
            seen = datetime.datetime.fromisoformat(str(info["lastseen"]))
            alive = seen + datetime.timedelta(seconds=int(info.get("lifetime", 60))) > now
            theirs = int(info.get("priority", 0))
        except (KeyError, TypeError, ValueError):
            continue  # not a record Kopf wrote; Kopf ignores it too
        if alive and theirs >= priority:
            return f"replica {peer} (priority {theirs}) is active, not this one ({priority})"
    return None
