"""core/policy.py: attempts and backoff, definition checks, Ready reasons, blips, deletion."""

from __future__ import annotations

import pytest

from dbindex_operator.core import errors, policy
from dbindex_operator.core import spec as specs

RETRY = specs.RetryPolicy(max_attempts=3, initial_backoff=10.0, max_backoff=25.0)


def _failure(sqlstate: str | None, message: str = "boom") -> errors.BuildFailure:
    return errors.BuildFailure(sqlstate, message)


@pytest.mark.parametrize(
    ("sqlstate", "attempts", "expected"),
    [
        pytest.param(
            "57014",
            1,
            policy.Retry(10.0, "attempt 1 of 3 failed: [57014] boom; retrying in 10s"),
            id="cancel-first-attempt",
        ),
        pytest.param(
            "55P03",
            2,
            policy.Retry(20.0, "attempt 2 of 3 failed: [55P03] boom; retrying in 20s"),
            id="lock-timeout-doubles",
        ),
        pytest.param(
            None,
            2,
            policy.Retry(20.0, "attempt 2 of 3 failed: [no sqlstate] boom; retrying in 20s"),
            id="connection-lost",
        ),
        pytest.param(
            "57014",
            3,
            policy.GiveUp("BuildFailed", "no attempts left: [57014] boom"),
            id="last-attempt-gives-up",
        ),
        pytest.param(
            "23505",
            1,
            policy.GiveUp("BuildFailed", "permanent error: [23505] boom"),
            id="duplicates-are-permanent",
        ),
        pytest.param(
            "22012",
            1,
            policy.GiveUp("BuildFailed", "permanent error: [22012] boom"),
            id="expression-error-permanent",
        ),
    ],
)
def test_after_build_failure(sqlstate: str | None, attempts: int, expected: policy.Verdict) -> None:
    assert policy.after_build_failure(_failure(sqlstate), attempts, RETRY) == expected


def test_backoff_is_capped() -> None:
    retry = specs.RetryPolicy(max_attempts=10, initial_backoff=10.0, max_backoff=25.0)
    verdict = policy.after_build_failure(_failure("40P01"), 5, retry)
    assert isinstance(verdict, policy.Retry) and verdict.delay == 25.0


@pytest.mark.parametrize(
    ("sqlstate", "retried"),
    [
        pytest.param("57014", True, id="cancel"),
        pytest.param("40P01", True, id="deadlock"),
        pytest.param("53300", True, id="too-many-connections"),
        pytest.param("55P03", True, id="lock-timeout"),
        pytest.param(None, True, id="connection-lost"),
        pytest.param("42704", False, id="undefined-opclass"),
        pytest.param("42P17", False, id="volatile-function"),
        pytest.param("42703", False, id="undefined-column"),
    ],
)
def test_after_probe_failure(sqlstate: str | None, retried: bool) -> None:
    """A transient error while checking a definition is retried, never InvalidDefinition."""
    verdict = policy.after_probe_failure(_failure(sqlstate), 2, RETRY)
    if retried:
        assert verdict == policy.Retry(
            20.0,
            f"checking the definition failed: [{sqlstate or 'no sqlstate'}] boom; retrying in 20s",
        )
    else:
        assert verdict == policy.GiveUp(
            "InvalidDefinition", f"PostgreSQL rejects this definition: [{sqlstate}] boom"
        )


@pytest.mark.parametrize(
    ("adopted", "previous_phase", "previous_reason", "reason", "announced"),
    [
        pytest.param(True, None, None, "Adopted", False, id="first-ready-by-adoption"),
        pytest.param(False, "Building", "BuildRunning", "IndexValid", False, id="built-here"),
        pytest.param(True, "Ready", "IndexValid", "IndexValid", False, id="restart-keeps-reason"),
        pytest.param(True, "Ready", "Adopted", "Adopted", False, id="adopted-stays-adopted"),
        pytest.param(True, "Ready", None, "Adopted", False, id="ready-without-condition"),
        pytest.param(True, "Failed", "DefinitionMismatch", "Adopted", True, id="fixed-mismatch"),
    ],
)
def test_ready_reason(
    adopted: bool,
    previous_phase: str | None,
    previous_reason: str | None,
    reason: str,
    announced: bool,
) -> None:
    assert (
        policy.ready_reason(
            adopted=adopted, previous_phase=previous_phase, previous_reason=previous_reason
        )
        == reason
    )
    assert policy.announces_adoption(adopted=adopted, previous_phase=previous_phase) is announced


@pytest.mark.parametrize(
    ("phase", "kept"),
    [
        ("Ready", True),
        ("Building", False),
        ("Pending", False),
        ("Failed", False),
        (None, False),
    ],
)
def test_a_blip_never_flips_ready(phase: str | None, kept: bool) -> None:
    assert policy.survives_connection_problem(phase) is kept


@pytest.mark.parametrize(
    ("delete_with_object", "was_building", "elapsed", "expected"),
    [
        pytest.param(
            False,
            False,
            0.0,
            policy.Release("could not check s.i for leftovers (down); nothing of ours"),
            id="retain-idle-goes-at-once",
        ),
        pytest.param(False, True, 5.0, policy.KeepTrying(), id="retain-cancelled-build-waits"),
        pytest.param(True, False, 5.0, policy.KeepTrying(), id="delete-waits"),
        pytest.param(
            True,
            False,
            6.0,
            policy.Release(
                "gave up cleaning up s.i after 6s (down); the index may remain in the database",
                warning="FinalizerReleased",
            ),
            id="delete-gives-up-at-timeout",
        ),
        pytest.param(
            False,
            True,
            9.0,
            policy.Release(
                "gave up cleaning up s.i after 9s (down); the index may remain in the database",
                warning="FinalizerReleased",
            ),
            id="retain-leftover-gives-up",
        ),
    ],
)
def test_deletion_after_error(
    delete_with_object: bool, was_building: bool, elapsed: float, expected: policy.Release
) -> None:
    verdict = policy.deletion_after_error(
        delete_with_object=delete_with_object,
        was_building=was_building,
        elapsed=elapsed,
        timeout=6.0,
        index="s.i",
        problem="down",
    )
    assert verdict == expected
