"""tracking.from_body and Tracked.reset_history: what survives a restart, and what does not."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from dbindex_operator.core import plan
from dbindex_operator.runtime import tracking
from tests.unit.builders import index_spec, spec_dict

FAILED_STATUS = {
    "observedGeneration": 3,
    "retryToken": "r1",
    "phase": "Failed",
    "attempts": 4,
    "lastError": {"sqlstate": "23505", "message": "duplicate key"},
    "startedAt": "2024-01-01T00:00:00Z",
    "completedAt": "2024-01-01T00:10:00Z",
    "conditions": [
        {"type": "Ready", "status": "False", "reason": "BuildFailed", "message": "dup"},
        {"type": "Progressing", "status": "False", "reason": "BuildFailed", "message": "dup"},
        {"type": "Degraded", "status": "True", "reason": "BuildFailed", "message": "dup"},
    ],
}


def _body(
    *,
    generation: int | None = 3,
    token: str | None = "r1",
    status: dict[str, Any] | None = None,
    spec: dict[str, Any] | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"namespace": "shop", "name": "orders-by-customer", "uid": "u-1"}
    if generation is not None:
        meta["generation"] = generation
    if token is not None:
        meta["annotations"] = {"dbindex.dev/retry": token, "other": "x"}
    body: dict[str, Any] = {"metadata": meta, "spec": spec_dict() if spec is None else spec}
    if status is not None:
        body["status"] = status
    return body


def test_from_body_minimal_defaults() -> None:
    body = {
        "metadata": {"namespace": "shop", "name": "orders-by-customer"},
        "spec": spec_dict(),
    }

    tracked = tracking.from_body(body)

    assert (
        tracked.key,
        tracked.label,
        tracked.ref,
        tracked.generation,
        tracked.retry_token,
        tracked.spec,
        tracked.spec_error,
        tracked.status,
        tracked.written,
        tracked.attempts,
        tracked.failed,
        tracked.last_error,
        tracked.started_at,
        tracked.completed_at,
    ) == (
        ("shop", "orders-by-customer"),
        "shop/orders-by-customer",
        {"namespace": "shop", "name": "orders-by-customer", "uid": ""},
        1,
        None,
        index_spec("orders-by-customer"),
        None,
        {},
        {},
        0,
        None,
        None,
        None,
        None,
    )


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        pytest.param(
            spec_dict(method="bloom"),
            "method must be one of btree, hash, gist, spgist, gin, brin, got 'bloom'",
            id="bad-method",
        ),
        pytest.param(
            spec_dict(where="a; DROP TABLE t"), "where: ';' is not allowed", id="injection"
        ),
        pytest.param({}, "at least one column is required", id="empty-spec"),
    ],
)
def test_invalid_spec_is_recorded(spec: dict[str, Any], error: str) -> None:
    tracked = tracking.from_body(_body(spec=spec))
    assert (tracked.spec, tracked.spec_error) == (None, error)


def test_missing_spec_is_recorded_as_error() -> None:
    body = _body()
    del body["spec"]
    tracked = tracking.from_body(body)
    assert (tracked.spec, tracked.spec_error) == (None, "at least one column is required")


@pytest.mark.parametrize(
    ("generation", "token", "status", "carried"),
    [
        pytest.param(3, "r1", FAILED_STATUS, True, id="same-generation-and-token"),
        pytest.param(4, "r1", FAILED_STATUS, False, id="new-generation"),
        pytest.param(3, "r2", FAILED_STATUS, False, id="new-retry-token"),
        pytest.param(3, None, FAILED_STATUS, False, id="token-removed"),
        pytest.param(
            3,
            None,
            {k: v for k, v in FAILED_STATUS.items() if k != "retryToken"},
            True,
            id="no-token-on-either-side",
        ),
        pytest.param(
            3,
            "r1",
            {k: v for k, v in FAILED_STATUS.items() if k != "observedGeneration"},
            False,
            id="status-without-generation",
        ),
    ],
)
def test_history_carried_only_for_the_same_request(
    generation: int, token: str | None, status: dict[str, Any], carried: bool
) -> None:
    tracked = tracking.from_body(_body(generation=generation, token=token, status=status))

    history = (
        tracked.attempts,
        tracked.last_error,
        tracked.started_at,
        tracked.completed_at,
        tracked.failed,
    )
    if carried:
        assert history == (
            4,
            {"sqlstate": "23505", "message": "duplicate key"},
            "2024-01-01T00:00:00Z",
            "2024-01-01T00:10:00Z",
            plan.Fail("BuildFailed", "dup"),
        )
    else:
        assert history == (0, None, None, None, None)
    assert (tracked.status, tracked.written) == (status, status)


def _with_degraded(phase: str, reason: str | None, message: str | None = "m") -> dict[str, Any]:
    degraded: dict[str, Any] = {"type": "Degraded", "status": "True"}
    if reason is not None:
        degraded["reason"] = reason
    if message is not None:
        degraded["message"] = message
    return {"observedGeneration": 3, "retryToken": "r1", "phase": phase, "conditions": [degraded]}


@pytest.mark.parametrize(
    ("status", "failed"),
    [
        pytest.param(
            _with_degraded("Failed", "BuildFailed"), plan.Fail("BuildFailed", "m"), id="restored"
        ),
        pytest.param(
            _with_degraded("Failed", "BuildFailed", message=None),
            plan.Fail("BuildFailed", ""),
            id="restored-without-message",
        ),
        pytest.param(
            _with_degraded("Failed", "DefinitionMismatch"), None, id="other-reason-is-recomputed"
        ),
        pytest.param(_with_degraded("Failed", "PartitionedTable"), None, id="partitioned"),
        pytest.param(_with_degraded("Retrying", "BuildFailed"), None, id="not-failed-phase"),
        pytest.param(_with_degraded("Failed", None), None, id="no-reason"),
        pytest.param(
            {"observedGeneration": 3, "retryToken": "r1", "phase": "Failed"},
            None,
            id="no-conditions",
        ),
    ],
)
def test_build_failed_restored(status: dict[str, Any], failed: plan.Fail | None) -> None:
    assert tracking.from_body(_body(status=status)).failed == failed


def test_status_is_copied_not_shared() -> None:
    status = {"observedGeneration": 3, "retryToken": "r1", "phase": "Ready"}
    tracked = tracking.from_body(_body(status=status))

    tracked.status["phase"] = "Building"

    assert status["phase"] == "Ready"
    # status and written start as one dict (memory: 10,000 objects); both are only ever
    # replaced (StatusWriter), never changed in place.
    assert tracked.written is tracked.status


def test_reset_history_forgets_failures_and_backoff() -> None:
    tracked = tracking.from_body(_body(status=FAILED_STATUS))
    tracked.next_attempt_at = 123.0
    tracked.desired = {"method": "btree"}
    tracked.built_here = True
    tracked.percent = 42

    tracked.reset_history()

    assert (
        tracked.attempts,
        tracked.failed,
        tracked.next_attempt_at,
        tracked.desired,
        tracked.last_error,
    ) == (0, None, 0.0, None, None)
    # Not history: the status and what a build reported stay until they are rendered again.
    assert (tracked.built_here, tracked.percent, tracked.status) == (True, 42, FAILED_STATUS)


def test_now_iso_is_utc_seconds_with_z() -> None:
    before = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    value = tracking.now_iso()
    after = datetime.datetime.now(datetime.UTC)

    parsed = datetime.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    assert before <= parsed <= after


READY_STATUS = {"observedGeneration": 3, "retryToken": "r1", "phase": "Ready"}


def _at_rest_case(change: str) -> tracking.Tracked:
    spec = spec_dict(maintenance={"verify": True}) if change == "maintenance policy" else None
    tracked = tracking.from_body(_body(status=READY_STATUS, spec=spec))
    if change == "new generation":
        tracked.generation = 4
    elif change == "retry annotation":
        tracked.retry_token = "r2"
    elif change == "building":
        tracked.status = {**READY_STATUS, "phase": "Building"}
    elif change == "deleting":
        tracked.deletion = tracking.Deletion(started_at=0.0, done=None)  # type: ignore[arg-type]
    elif change == "retry due":
        tracked.next_attempt_at = 5.0
    elif change == "window to wait for":
        tracked.window_opens_at = 5.0
    elif change == "maintenance rerun":
        tracked.maintenance_after = 5.0
    return tracked


@pytest.mark.parametrize(
    ("change", "at_rest"),
    [
        ("nothing", True),
        ("new generation", False),
        ("retry annotation", False),
        ("building", False),
        ("deleting", False),
        ("retry due", False),
        ("window to wait for", False),
        ("maintenance rerun", False),
        ("maintenance policy", False),
    ],
)
def test_at_rest(change: str, at_rest: bool) -> None:
    """Passes woken by other objects skip an object at rest (runtime/scheduler.py); only the
    resync looks at it."""
    assert _at_rest_case(change).at_rest is at_rest


@pytest.mark.parametrize(
    ("times", "now", "due"),
    [
        ([], 10.0, None),
        ([(0.0, 0.0, 0.0)], 10.0, None),
        ([(12.0, 0.0, 0.0), (0.0, 11.0, 0.0)], 10.0, 11.0),
        ([(8.0, 0.0, 0.0)], 10.0, 10.0),  # a retry already due: now
        ([(0.0, 0.0, 15.0), (20.0, 0.0, 0.0)], 10.0, 15.0),
        ([(0.0, 0.0, 9.0)], 10.0, None),  # a past maintenance rerun time wakes nothing
    ],
)
def test_next_due(times: list[tuple[float, float, float]], now: float, due: float | None) -> None:
    objects = []
    for retry, window, rerun in times:
        tracked = tracking.from_body(_body(status=READY_STATUS))
        tracked.next_attempt_at, tracked.window_opens_at, tracked.maintenance_after = (
            retry,
            window,
            rerun,
        )
        objects.append(tracked)
    assert tracking.next_due(objects, now) == due
