"""Objects at rest whose inputs did not change: the resync pass need not decide them again.

An idle fleet's resync pass re-decided every object every DBINDEX_RESYNC_INTERVAL to conclude, for
nearly all of them, what it concluded a minute before (issue #15 section 4: idle CPU). After a
decision that needed no executor and left the object at rest, the scheduler keeps the exact
objects the decision read; the next pass skips the object while all of them are the same ones,
and does not even parse its catalog row (db.fetch_changed_states compares the row's fingerprint
first: parsing 10,000 rows a minute to decide nothing was most of an idle fleet's CPU).
Drift still shows: a changed catalog row has a new fingerprint (core/catalog.py), a changed object
a new spec or status, a health pass a new health, so any change means a decision as before.
"""

from __future__ import annotations

from typing import Any

from dbindex_operator.core import catalog
from dbindex_operator.runtime import metrics, tracking


def decision_inputs(tracked: tracking.Tracked) -> tuple[Any, ...]:
    """What plan.decide and the report of its outcome read for an object at rest, but its
    catalog row and health. All are replaced, never changed in place, so the same objects mean
    the same decision."""
    return (
        tracked.spec,
        tracked.desired,
        tracked.status,
        tracked.failed,
        tracked.definition_error,
        tracked.last_error,
        tracked.last_drift,
        tracked.mismatch_token,
        tracked.retry_token,
        tracked.generation,
        tracked.managed,
        tracked.built_here,
        tracked.attempts,
        tracked.started_at,
        tracked.completed_at,
    )


def health_facts(health: dict[str, Any] | None) -> dict[str, Any] | None:
    """A health but the time of the look: every health pass (DBINDEX_HEALTH_INTERVAL) makes a
    new health with a new `checkedAt`, which neither the decision of an object at rest (no
    maintenance policy) nor its report reads (reporter._health); the facts are compared."""
    return None if health is None else {k: v for k, v in health.items() if k != "checkedAt"}


def resting_row(tracked: tracking.Tracked) -> bytes | None:
    """The fingerprint of the catalog row its last decision read, while it is at rest and
    nothing else that decision read has changed; None otherwise. A pass finding the same row
    again would conclude the same and write nothing, so it need not even parse the row
    (db.fetch_changed_states)."""
    last = tracked.decided
    if last is None or not tracked.at_rest:
        return None
    row: bytes
    row, inputs, health = last
    if not row or not all(a is b for a, b in zip(inputs, decision_inputs(tracked), strict=True)):
        return None
    if health is not tracked.health:
        if health_facts(health) != health_facts(tracked.health):
            return None
        # A health pass found the same facts: rest on its health from now on, so the next
        # passes compare one reference, not two dicts per object.
        tracked.decided = (row, inputs, tracked.health)
    return row


def changed_meanwhile(tracked: tracking.Tracked, row: bytes | None) -> bool:
    """Its row was skipped unparsed as `row` (resting_row before the catalog query), but what it
    rests on changed during the query: the pass cannot decide it, the next one must."""
    return resting_row(tracked) != row


def remember_decision(tracked: tracking.Tracked, state: catalog.IndexState, *, quiet: bool) -> None:
    """After a decision: `quiet` when it needed no executor and no early look."""
    metrics.DECISIONS.inc()
    remember = quiet and tracked.at_rest
    tracked.decided = (
        (state.fingerprint, decision_inputs(tracked), tracked.health) if remember else None
    )
