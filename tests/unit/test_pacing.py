"""core/pacing.py: the write bucket and what counts as an overloaded API server."""

from __future__ import annotations

import pytest

from dbindex_operator.core import pacing


@pytest.mark.parametrize(
    ("status", "message", "expected"),
    [
        pytest.param(429, "", True, id="too-many-requests"),
        pytest.param(504, "", True, id="gateway-timeout"),
        pytest.param(503, "", True, id="unavailable"),
        pytest.param(
            500,
            "Timeout: request did not complete within requested timeout",
            True,
            id="timeout-text",
        ),
        pytest.param(None, "request did not complete within requested timeout", True, id="no-code"),
        pytest.param(422, "the test failed", False, id="conflict-is-no-overload"),
        pytest.param(404, "", False, id="gone"),
        pytest.param(500, "internal error", False, id="other-500"),
    ],
)
def test_overloaded(status: int | None, message: str, expected: bool) -> None:
    assert pacing.overloaded(status, message) is expected


def test_a_burst_goes_at_once_then_the_rate_spaces_writes() -> None:
    bucket = pacing.Bucket(ceiling=10.0, burst=3.0)
    assert [bucket.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(0.0) == pytest.approx(0.1)
    assert bucket.take(0.0) == pytest.approx(0.2)


def test_tokens_come_back_with_time_up_to_the_burst() -> None:
    bucket = pacing.Bucket(ceiling=10.0, burst=2.0)
    for _ in range(2):
        bucket.take(0.0)
    assert bucket.take(0.1) == 0.0  # one token back after 0.1 s
    assert bucket.take(100.0) == 0.0
    assert bucket.tokens == pytest.approx(1.0)  # refilled to 2, never beyond


def test_overload_halves_the_rate_once_per_calm_period_down_to_the_floor() -> None:
    bucket = pacing.Bucket(ceiling=100.0, burst=10.0, floor=20.0, calm=1.0)
    assert bucket.slow_down(5.0) is True
    assert bucket.rate == 50.0
    assert bucket.slow_down(5.5) is False  # the other requests in flight: no second halving
    assert bucket.rate == 50.0
    assert bucket.slow_down(6.0) is True
    assert bucket.rate == 25.0
    bucket.slow_down(7.0)
    assert bucket.rate == 20.0  # the floor
    assert bucket.take(7.0) == pytest.approx(1 / 20)  # no burst right after an overload


def test_successes_give_the_rate_back_additively_up_to_the_ceiling() -> None:
    bucket = pacing.Bucket(ceiling=100.0, burst=10.0, floor=1.0)
    bucket.slow_down(0.0)
    for _ in range(50):
        bucket.succeeded()
    assert bucket.rate == pytest.approx(75.0)
    for _ in range(1000):
        bucket.succeeded()
    assert bucket.rate == 100.0
