"""runtime/resting.py: the resync pass skips deciding an object at rest only while every input of
its last decision is the very same object."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from dbindex_operator.core import catalog, plan
from dbindex_operator.runtime import resting, tracking
from tests.unit.builders import spec_dict

READY = {"observedGeneration": 1, "phase": "Ready", "managed": True}
STATE = catalog.IndexState(
    table_oid=5, relation_oid=9, relation_kind="i", on_table=True, valid=True, fingerprint=b"r1"
)


def _skips(tracked: tracking.Tracked, state: catalog.IndexState) -> bool:
    """What the scheduler's pass does with the row `state` was parsed from: skip it, unparsed
    (db.fetch_changed_states returns None for a row with the resting fingerprint)."""
    return resting.resting_row(tracked) == state.fingerprint


def _tracked() -> tracking.Tracked:
    body = {
        "metadata": {
            "namespace": "shop",
            "name": "orders-by-customer",
            "uid": "u",
            "generation": 1,
        },
        "spec": spec_dict(),
        "status": dict(READY),
    }
    return tracking.from_body(body)


def test_an_unchanged_object_at_rest_is_not_decided_again() -> None:
    tracked = _tracked()
    resting.remember_decision(tracked, STATE, quiet=True)

    assert _skips(tracked, STATE)


def test_nothing_remembered_nothing_skipped() -> None:
    assert not _skips(_tracked(), STATE)
    assert resting.resting_row(_tracked()) is None


def test_at_rest_its_row_fingerprint_is_the_one_not_to_parse() -> None:
    """db.fetch_changed_states skips parsing a row with this fingerprint (an idle fleet's
    resync parsed 10,000 rows a minute to decide nothing)."""
    tracked = _tracked()
    resting.remember_decision(tracked, STATE, quiet=True)

    assert resting.resting_row(tracked) == b"r1"
    assert not resting.changed_meanwhile(tracked, b"r1")
    tracked.status = dict(READY)  # say a status event during the catalog query
    assert resting.changed_meanwhile(tracked, b"r1")  # the scheduler resyncs at once


def test_a_decision_that_wants_another_look_is_not_remembered() -> None:
    tracked = _tracked()
    resting.remember_decision(tracked, STATE, quiet=False)

    assert tracked.decided is None
    assert not _skips(tracked, STATE)


def test_an_object_not_at_rest_is_not_remembered() -> None:
    tracked = _tracked()
    tracked.status = {**READY, "phase": "Building"}
    resting.remember_decision(tracked, STATE, quiet=True)

    assert tracked.decided is None


def _set(field: str, value: object) -> Callable[[tracking.Tracked], None]:
    return lambda tracked: setattr(tracked, field, value)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(_set("spec", None), id="spec-replaced"),
        pytest.param(_set("desired", {"method": "btree"}), id="probed-signature"),
        pytest.param(_set("status", dict(READY)), id="status-rewritten-equal"),
        pytest.param(_set("health", {"sizeBytes": 8192}), id="health-facts-changed"),
        pytest.param(_set("failed", plan.Fail("BuildFailed", "x")), id="failed"),
        pytest.param(_set("definition_error", plan.Fail("Bad", "x")), id="definition-error"),
        pytest.param(_set("last_error", {"message": "x"}), id="last-error"),
        pytest.param(_set("last_drift", {"found": "x"}), id="drift-recorded"),
        pytest.param(_set("mismatch_token", ("r1",)), id="manual-mismatch"),
        pytest.param(_set("managed", False), id="managed"),
        pytest.param(_set("built_here", True), id="built-here"),
        pytest.param(_set("attempts", 3), id="attempts"),
        pytest.param(_set("started_at", "2026-12-03T00:00:00Z"), id="started"),
        pytest.param(_set("completed_at", "2026-12-03T00:00:01Z"), id="completed"),
        # Not at rest any more (tracking.Tracked.at_rest), whatever the inputs:
        pytest.param(_set("next_attempt_at", 5.0), id="retry-due"),
        pytest.param(_set("maintenance_after", 5.0), id="maintenance-rerun"),
        pytest.param(_set("generation", 2), id="new-generation"),
        pytest.param(_set("retry_token", "r2"), id="retry-annotation"),
    ],
)
def test_any_changed_input_means_a_decision(change: Callable[[tracking.Tracked], None]) -> None:
    tracked = _tracked()
    resting.remember_decision(tracked, STATE, quiet=True)

    change(tracked)

    assert not _skips(tracked, STATE)
    assert resting.resting_row(tracked) is None  # so its row is parsed and decided again


def test_a_changed_catalog_row_means_a_decision() -> None:
    """The row's fingerprint (core/catalog_rows.fingerprint) is compared, not the parsed state: an
    idle fleet keeps no state per object between passes (memory)."""
    tracked = _tracked()
    resting.remember_decision(tracked, STATE, quiet=True)

    assert _skips(tracked, dataclasses.replace(STATE))  # parsed again, same row
    assert not _skips(tracked, dataclasses.replace(STATE, fingerprint=b"r2"))


def test_a_state_without_a_fingerprint_is_always_decided() -> None:
    """A partitioned table's state is more than its row (its partition tree): never skipped."""
    tracked = _tracked()
    unprinted = dataclasses.replace(STATE, fingerprint=b"")
    resting.remember_decision(tracked, unprinted, quiet=True)

    assert not _skips(tracked, unprinted)
    assert resting.resting_row(tracked) is None


def test_a_health_pass_that_found_the_same_facts_is_not_a_change() -> None:
    """Each health pass makes a new health with a new checkedAt; only the facts count."""
    tracked = _tracked()
    tracked.health = {"sizeBytes": 8192, "scans": 3, "checkedAt": "2026-12-03T10:00:00Z"}
    resting.remember_decision(tracked, STATE, quiet=True)

    tracked.health = {"sizeBytes": 8192, "scans": 3, "checkedAt": "2026-12-03T10:10:00Z"}
    assert _skips(tracked, STATE)
    assert resting.resting_row(tracked) == b"r1"
    tracked.health = {"sizeBytes": 8192, "scans": 4, "checkedAt": "2026-12-03T10:20:00Z"}
    assert not _skips(tracked, STATE)


def test_after_a_same_facts_health_pass_the_next_passes_compare_one_reference() -> None:
    """The facts are compared once per health pass, not on every resync pass after it."""
    tracked = _tracked()
    tracked.health = {"sizeBytes": 8192, "scans": 3, "checkedAt": "2026-12-03T10:00:00Z"}
    resting.remember_decision(tracked, STATE, quiet=True)
    assert tracked.decided is not None and tracked.decided[2] is tracked.health

    tracked.health = {"sizeBytes": 8192, "scans": 3, "checkedAt": "2026-12-03T10:10:00Z"}
    assert resting.resting_row(tracked) == b"r1"
    assert tracked.decided is not None and tracked.decided[2] is tracked.health
