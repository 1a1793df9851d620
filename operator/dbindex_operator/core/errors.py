"""The operator's error tree: what can go wrong, and whether waiting helps.

    OperatorError
    ├── SpecError               the manifest cannot become a safe index (no retry until it changes)
    └── ConnectionProblem       we cannot talk to the database (retry with backoff, heals by itself)
        ├── SecretNotFound
        ├── SecretKeyMissing
        ├── InvalidDSN
        └── ConnectionFailed
    BuildFailure                a CREATE INDEX CONCURRENTLY did not end with a valid index
        retryable by SQLSTATE class (cancel, lock timeout, deadlock, connection loss) or permanent
        (duplicates, expression errors, undefined objects, privileges).

Classification is by SQLSTATE, never by message text. Translation to Kopf's errors happens only at
the Kopf edge (handlers.py).
"""

from __future__ import annotations

import dataclasses


class OperatorError(Exception):
    """Base class of the errors this operator raises on purpose."""

    reason: str = "Error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SpecError(OperatorError):
    """The spec is invalid or unsafe: an identifier, a fragment, a combination of fields."""

    reason = "InvalidSpec"


class ConnectionProblem(OperatorError):
    """The database cannot be reached with what the Secret says. Transient from our view."""

    reason = "ConnectionFailed"


class SecretNotFound(ConnectionProblem):
    reason = "SecretNotFound"


class SecretKeyMissing(ConnectionProblem):
    reason = "SecretKeyMissing"


class InvalidDSN(ConnectionProblem):
    reason = "InvalidDSN"


class ConnectionFailed(ConnectionProblem):
    reason = "ConnectionFailed"


# SQLSTATEs after which another attempt can succeed without anyone changing anything.
_RETRYABLE_SQLSTATES = frozenset(
    {
        "57014",  # query_canceled: cancel request or statement_timeout
        "55P03",  # lock_not_available: lock_timeout
        "40P01",  # deadlock_detected
        "40001",  # serialization_failure
        "57P01",  # admin_shutdown (backend terminated)
        "57P02",  # crash_shutdown
        "57P03",  # cannot_connect_now (server starting)
        "53300",  # too_many_connections
        "53100",  # disk_full: an operator can free space and it heals
        "53200",  # out_of_memory
    }
)
# Whole classes that are transient: 08 connection exceptions.
_RETRYABLE_CLASSES = frozenset({"08"})


def is_retryable_sqlstate(sqlstate: str | None) -> bool:
    """A missing SQLSTATE means the connection broke under us: retryable."""
    if sqlstate is None:
        return True
    return sqlstate in _RETRYABLE_SQLSTATES or sqlstate[:2] in _RETRYABLE_CLASSES


@dataclasses.dataclass(frozen=True)
class BuildFailure(Exception):
    """A build attempt ended without a valid index."""

    sqlstate: str | None
    message: str

    @property
    def retryable(self) -> bool:
        return is_retryable_sqlstate(self.sqlstate)

    @property
    def reason(self) -> str:
        return "BuildInterrupted" if self.retryable else "BuildFailed"

    def __str__(self) -> str:
        return f"[{self.sqlstate or 'no sqlstate'}] {self.message}"


_REASONS = {
    "57014": "QueryCanceled",
    "55P03": "LockTimeout",
    "40P01": "Deadlock",
    "57P01": "BackendTerminated",
    "23505": "UniqueViolation",
    "42703": "UndefinedColumn",
    "42704": "UndefinedObject",
    "42501": "InsufficientPrivilege",
    "42P17": "InvalidObjectDefinition",
}


def reason_for(sqlstate: str | None) -> str:
    """A CamelCase reason for conditions and events, from the SQLSTATE."""
    if sqlstate is None:
        return "ConnectionLost"
    return _REASONS.get(sqlstate, f"SQLSTATE{sqlstate}")
