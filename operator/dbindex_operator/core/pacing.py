"""Pacing: how fast the operator writes to the API server, and how it backs off. Pure.

One token bucket for all of the operator's own writes (status patches, finalizer patches,
Events). Its rate adapts the way TCP's congestion window does: a reply that says the API server
is overloaded (429 Too Many Requests, 504 or "request did not complete within requested
timeout") halves the rate at once; every write that succeeds gives a little back, up to the
configured ceiling. So a struggling API server sees fewer requests instead of a storm of
retries, and a healthy one is not held back (docs/benchmarks.md, "Back-pressure").
"""

from __future__ import annotations

import dataclasses

OVERLOAD_STATUSES = frozenset({429, 503, 504})
TIMEOUT_TEXT = "request did not complete"


def overloaded(status: int | None, message: str = "") -> bool:
    """Does this failed request say the API server is overloaded (rather than a bad request)?"""
    return status in OVERLOAD_STATUSES or TIMEOUT_TEXT in message


@dataclasses.dataclass
class Bucket:
    """`ceiling`: writes per second when all is well; `burst`: how many may go at once;
    `floor`: the slowest it gets; `calm`: seconds after a slow-down during which further
    overload replies (the other requests already in flight) do not halve it again."""

    ceiling: float
    burst: float
    floor: float = 2.0
    calm: float = 1.0
    rate: float = 0.0
    tokens: float = 0.0
    stamp: float = 0.0
    slowed_at: float = -1e9

    def __post_init__(self) -> None:
        self.rate = self.rate or self.ceiling
        self.tokens = self.burst

    def take(self, now: float) -> float:
        """Reserve one write; return how many seconds to wait before sending it (0: now)."""
        self._refill(now)
        self.tokens -= 1.0
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate

    def slow_down(self, now: float) -> bool:
        """An overload reply: halve the rate (once per `calm`). True if it did."""
        if now - self.slowed_at < self.calm:
            return False
        self._refill(now)
        self.slowed_at = now
        self.rate = max(self.floor, self.rate / 2)
        self.tokens = min(self.tokens, 0.0)  # no burst right after an overload
        return True

    def succeeded(self) -> None:
        """A write went through: give back a 1/200 of the ceiling (additive increase)."""
        if self.rate < self.ceiling:
            self.rate = min(self.ceiling, self.rate + self.ceiling / 200)

    def _refill(self, now: float) -> None:
        if now > self.stamp:
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
