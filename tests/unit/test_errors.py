"""errors: SQLSTATE classification (never by message), BuildFailure and reasons."""

from __future__ import annotations

import pytest

from dbindex_operator.core import errors


@pytest.mark.parametrize(
    ("sqlstate", "expected"),
    [
        pytest.param("57014", True, id="query-canceled"),
        pytest.param("55P03", True, id="lock-not-available"),
        pytest.param("40P01", True, id="deadlock"),
        pytest.param("40001", True, id="serialization-failure"),
        pytest.param("57P01", True, id="admin-shutdown"),
        pytest.param("57P02", True, id="crash-shutdown"),
        pytest.param("57P03", True, id="cannot-connect-now"),
        pytest.param("53300", True, id="too-many-connections"),
        pytest.param("53100", True, id="disk-full"),
        pytest.param("53200", True, id="out-of-memory"),
        pytest.param(None, True, id="no-sqlstate-connection-lost"),
        pytest.param("08000", True, id="connection-exception"),
        pytest.param("08006", True, id="connection-failure"),
        pytest.param("08P01", True, id="protocol-violation"),
        pytest.param("23505", False, id="unique-violation"),
        pytest.param("22012", False, id="division-by-zero"),
        pytest.param("22P02", False, id="invalid-text-representation"),
        pytest.param("42703", False, id="undefined-column"),
        pytest.param("42704", False, id="undefined-object"),
        pytest.param("42501", False, id="insufficient-privilege"),
        pytest.param("42P17", False, id="invalid-object-definition"),
        pytest.param("25001", False, id="active-sql-transaction"),
        pytest.param("0A000", False, id="feature-not-supported"),
        pytest.param("55000", False, id="object-not-in-prerequisite-state"),
        pytest.param("57000", False, id="operator-intervention-class-not-whole"),
        pytest.param("40000", False, id="rollback-class-not-whole"),
        pytest.param("", False, id="empty-string"),
    ],
)
def test_is_retryable_sqlstate(sqlstate: str | None, expected: bool) -> None:
    assert errors.is_retryable_sqlstate(sqlstate) is expected


@pytest.mark.parametrize(
    ("sqlstate", "retryable", "reason", "text"),
    [
        pytest.param("57014", True, "BuildInterrupted", "[57014] canceled", id="canceled"),
        pytest.param("55P03", True, "BuildInterrupted", "[55P03] canceled", id="lock-timeout"),
        pytest.param(None, True, "BuildInterrupted", "[no sqlstate] canceled", id="lost"),
        pytest.param("23505", False, "BuildFailed", "[23505] canceled", id="duplicates"),
        pytest.param("22012", False, "BuildFailed", "[22012] canceled", id="division-by-zero"),
    ],
)
def test_build_failure(sqlstate: str | None, retryable: bool, reason: str, text: str) -> None:
    failure = errors.BuildFailure(sqlstate, "canceled")
    assert (failure.retryable, failure.reason, str(failure)) == (retryable, reason, text)


def test_build_failure_is_an_exception() -> None:
    with pytest.raises(errors.BuildFailure) as info:
        raise errors.BuildFailure("23505", "duplicate key")
    assert (info.value.sqlstate, info.value.message) == ("23505", "duplicate key")


@pytest.mark.parametrize(
    ("sqlstate", "expected"),
    [
        pytest.param(None, "ConnectionLost", id="none"),
        pytest.param("57014", "QueryCanceled", id="57014"),
        pytest.param("55P03", "LockTimeout", id="55P03"),
        pytest.param("40P01", "Deadlock", id="40P01"),
        pytest.param("57P01", "BackendTerminated", id="57P01"),
        pytest.param("23505", "UniqueViolation", id="23505"),
        pytest.param("42703", "UndefinedColumn", id="42703"),
        pytest.param("42704", "UndefinedObject", id="42704"),
        pytest.param("42501", "InsufficientPrivilege", id="42501"),
        pytest.param("42P17", "InvalidObjectDefinition", id="42P17"),
        pytest.param("22012", "SQLSTATE22012", id="unnamed"),
    ],
)
def test_reason_for(sqlstate: str | None, expected: str) -> None:
    assert errors.reason_for(sqlstate) == expected


@pytest.mark.parametrize(
    ("error", "reason", "base"),
    [
        pytest.param(errors.SpecError("m"), "InvalidSpec", errors.OperatorError, id="spec"),
        pytest.param(
            errors.SecretNotFound("m"), "SecretNotFound", errors.ConnectionProblem, id="secret"
        ),
        pytest.param(
            errors.SecretKeyMissing("m"), "SecretKeyMissing", errors.ConnectionProblem, id="key"
        ),
        pytest.param(errors.InvalidDSN("m"), "InvalidDSN", errors.ConnectionProblem, id="dsn"),
        pytest.param(
            errors.ConnectionFailed("m"), "ConnectionFailed", errors.ConnectionProblem, id="conn"
        ),
    ],
)
def test_error_tree(error: errors.OperatorError, reason: str, base: type[Exception]) -> None:
    assert (error.reason, error.message, str(error), isinstance(error, base)) == (
        reason,
        "m",
        "m",
        True,
    )


def test_spec_error_is_not_a_connection_problem() -> None:
    assert not isinstance(errors.SpecError("m"), errors.ConnectionProblem)
