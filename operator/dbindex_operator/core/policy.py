"""The rules that turn an outcome into what happens next. Pure: no clock, no I/O.

plan.decide says what to do about an index from the catalog; these functions say how to account
for what happened when we did it: another attempt or give up, which reason a Ready object shows,
whether a database blip may change a phase, and when a deletion stops trying.
"""

from __future__ import annotations

import dataclasses

from dbindex_operator.core import errors, status
from dbindex_operator.core import spec as specs


@dataclasses.dataclass(frozen=True)
class Retry:
    """Try again after `delay` seconds."""

    delay: float
    message: str


@dataclasses.dataclass(frozen=True)
class GiveUp:
    """Stop until the spec or the retry annotation changes (phase Failed, Degraded)."""

    reason: str
    message: str


Verdict = Retry | GiveUp


def after_build_failure(
    failure: errors.BuildFailure, attempts: int, retry: specs.RetryPolicy
) -> Verdict:
    """`attempts` counts the attempt that just failed (1 after the first failure)."""
    if failure.retryable and attempts < retry.max_attempts:
        delay = retry.delay(attempts)
        return Retry(
            delay,
            f"attempt {attempts} of {retry.max_attempts} failed: {failure}; "
            f"retrying in {delay:.0f}s",
        )
    why = "permanent error" if not failure.retryable else "no attempts left"
    return GiveUp("BuildFailed", f"{why}: {failure}")


def after_probe_failure(
    failure: errors.BuildFailure, failures: int, retry: specs.RetryPolicy
) -> Verdict:
    """A definition check that PostgreSQL rejected is the user's to fix; one that was cancelled,
    deadlocked, timed out on a lock or found no free connection is tried again like a build
    (`failures` counts consecutive transient ones; they never use up build attempts)."""
    if failure.retryable:
        delay = retry.delay(failures)
        return Retry(delay, f"checking the definition failed: {failure}; retrying in {delay:.0f}s")
    return GiveUp("InvalidDefinition", f"PostgreSQL rejects this definition: {failure}")


def ready_reason(*, adopted: bool, previous_phase: str | None, previous_reason: str | None) -> str:
    """Ready keeps the reason it became Ready with: a restart or a resync is no adoption."""
    if previous_phase == status.READY and previous_reason:
        return previous_reason
    return "Adopted" if adopted else "IndexValid"


def announces_adoption(*, adopted: bool, previous_phase: str | None) -> bool:
    """An Adopted Event only when an index that failed to match becomes Ready by adoption (a
    person fixed or approved it). A first adoption is told by status alone (Ready, reason
    Adopted): an import of 10,000 existing indexes is no reason for 10,000 Events."""
    return adopted and previous_phase == status.FAILED


def survives_connection_problem(phase: str | None) -> bool:
    """A Ready index is still there when its database blips: do not flap it to Waiting."""
    return phase == status.READY


@dataclasses.dataclass(frozen=True)
class KeepTrying:
    """The cleanup may still succeed: look again later."""


@dataclasses.dataclass(frozen=True)
class Release:
    """Let the object go. `warning` (an Event reason) when cleanup was abandoned."""

    message: str
    warning: str | None = None


DeletionVerdict = KeepTrying | Release


def deletion_after_error(
    *,
    delete_with_object: bool,
    was_building: bool,
    elapsed: float,
    timeout: float,
    index: str,
    problem: str,
) -> DeletionVerdict:
    """The database could not be reached (or the DROP failed) while cleaning up.

    Retain with no build of ours in flight left nothing to clean: go at once. Otherwise keep
    trying until the deletion timeout, then release anyway so a namespace can always go away.
    """
    if not delete_with_object and not was_building:
        return Release(f"could not check {index} for leftovers ({problem}); nothing of ours")
    if elapsed < timeout:
        return KeepTrying()
    return Release(
        f"gave up cleaning up {index} after {elapsed:.0f}s ({problem}); "
        "the index may remain in the database",
        warning="FinalizerReleased",
    )
