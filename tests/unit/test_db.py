"""db (pure parts): connection parameters from a Secret, redaction, and no password in repr."""

from __future__ import annotations

from typing import Any

import pytest

from dbindex_operator.core import errors
from dbindex_operator.runtime import db

DSN = "postgresql://app:s3cr%40t@db.example:5433/shop?sslmode=require"


@pytest.mark.parametrize(
    ("data", "key", "identity", "kwargs"),
    [
        pytest.param(
            {"dsn": DSN},
            None,
            ("db.example", "5433", "shop"),
            {"dsn": DSN},
            id="dsn-key",
        ),
        pytest.param(
            {"dsn": f"  {DSN}\n"},
            None,
            ("db.example", "5433", "shop"),
            {"dsn": DSN},
            id="dsn-stripped",
        ),
        pytest.param(
            {"uri": "postgres://db/shop", "dsn": "postgresql://other/x"},
            "uri",
            ("db", "5432", "shop"),
            {"dsn": "postgres://db/shop"},
            id="explicit-key-wins",
        ),
        pytest.param(
            {"dsn": "postgresql://h/d", "host": "ignored"},
            None,
            ("h", "5432", "d"),
            {"dsn": "postgresql://h/d"},
            id="dsn-wins-over-discrete",
        ),
        pytest.param(
            {"dsn": "postgresql:///shop?host=/var/run/postgresql&port=6432"},
            None,
            ("/var/run/postgresql", "6432", "shop"),
            {"dsn": "postgresql:///shop?host=/var/run/postgresql&port=6432"},
            id="socket-host-in-query",
        ),
        pytest.param(
            {"dsn": "postgresql://alice@h"},
            None,
            ("h", "5432", "alice"),
            {"dsn": "postgresql://alice@h"},
            id="dbname-defaults-to-user",
        ),
        pytest.param(
            {"dsn": "postgresql://h/my%20db"},
            None,
            ("h", "5432", "my db"),
            {"dsn": "postgresql://h/my%20db"},
            id="dbname-unquoted",
        ),
        pytest.param(
            {
                "host": " pg.internal ",
                "port": "6543",
                "dbname": "shop",
                "user": "app",
                "password": "pw",
                "sslmode": "verify-full",
                "unrelated": "x",
            },
            None,
            ("pg.internal", "6543", "shop"),
            {
                "host": "pg.internal",
                "port": 6543,
                "database": "shop",
                "user": "app",
                "password": "pw",
                "ssl": "verify-full",
            },
            id="discrete-keys",
        ),
        pytest.param(
            {"host": "pg"},
            None,
            ("pg", "5432", ""),
            {"host": "pg"},
            id="discrete-host-only",
        ),
    ],
)
def test_params_from_secret(
    data: dict[str, str],
    key: str | None,
    identity: tuple[str, str, str],
    kwargs: dict[str, Any],
) -> None:
    params = db.params_from_secret(data, key)
    assert (params.identity, params.describe(), params.connect_kwargs()) == (
        identity,
        f"{identity[0]}:{identity[1]}/{identity[2]}",
        kwargs,
    )


@pytest.mark.parametrize(
    ("data", "key", "error", "message"),
    [
        pytest.param(
            {"dsn": "postgresql://h/d"},
            "uri",
            errors.SecretKeyMissing,
            "the Secret has no key 'uri'",
            id="explicit-key-missing",
        ),
        pytest.param(
            {},
            None,
            errors.SecretKeyMissing,
            "the Secret has neither a 'dsn' key nor discrete keys (host, port, dbname, ...)",
            id="empty-secret",
        ),
        pytest.param(
            {"user": "u", "password": "p"},
            None,
            errors.SecretKeyMissing,
            "the Secret has neither a 'dsn' key nor discrete keys (host, port, dbname, ...)",
            id="discrete-without-host",
        ),
        pytest.param(
            {"dsn": "host=h dbname=d"},
            None,
            errors.InvalidDSN,
            "key 'dsn' must hold a postgresql:// URI (got scheme 'none')",
            id="keyword-value-dsn",
        ),
        pytest.param(
            {"dsn": "mysql://h/d"},
            None,
            errors.InvalidDSN,
            "key 'dsn' must hold a postgresql:// URI (got scheme 'mysql')",
            id="other-scheme",
        ),
        pytest.param(
            {"dsn": "postgresql://h:abc/d"},
            None,
            errors.InvalidDSN,
            "key 'dsn' holds a malformed URI",
            id="dsn-port-not-a-number",
        ),
        pytest.param(
            {"dsn": "postgresql://h:99999/d"},
            None,
            errors.InvalidDSN,
            "key 'dsn' holds a malformed URI",
            id="dsn-port-out-of-range",
        ),
        pytest.param(
            {"host": "h", "port": "five"},
            None,
            errors.InvalidDSN,
            "key 'port' must be a number",
            id="discrete-port-word",
        ),
        pytest.param(
            {"host": "h", "port": "-1"},
            None,
            errors.InvalidDSN,
            "key 'port' must be a number",
            id="discrete-port-negative",
        ),
    ],
)
def test_params_from_secret_rejected(
    data: dict[str, str], key: str | None, error: type[errors.ConnectionProblem], message: str
) -> None:
    with pytest.raises(error) as info:
        db.params_from_secret(data, key)
    assert info.value.message == message


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param({"dsn": DSN}, (DSN, "s3cr%40t", "s3cr@t"), id="dsn-encoded-password"),
        pytest.param(
            {"dsn": "postgresql://app:plain@h/d"},
            ("postgresql://app:plain@h/d", "plain", "plain"),
            id="dsn-plain-password",
        ),
        pytest.param({"dsn": "postgresql://app@h/d"}, ("postgresql://app@h/d",), id="no-password"),
        pytest.param({"host": "h", "password": "pw"}, ("pw",), id="discrete-password"),
        pytest.param({"host": "h"}, (), id="discrete-no-password"),
    ],
)
def test_secrets(data: dict[str, str], expected: tuple[str, ...]) -> None:
    assert db.params_from_secret(data, None).secrets == expected


@pytest.mark.parametrize(
    ("data", "message", "expected"),
    [
        pytest.param(
            {"dsn": DSN},
            f"could not connect with {DSN}",
            "could not connect with ***",
            id="whole-dsn",
        ),
        pytest.param(
            {"dsn": DSN},
            'password authentication failed: "s3cr@t"',
            'password authentication failed: "***"',
            id="decoded-password",
        ),
        pytest.param(
            {"dsn": DSN},
            "bad url postgresql://app:s3cr%40t@elsewhere",
            "bad url postgresql://app:***@elsewhere",
            id="encoded-password",
        ),
        pytest.param(
            {"host": "h", "password": "hunter2"},
            "hunter2 and hunter2 again",
            "*** and *** again",
            id="discrete-every-occurrence",
        ),
        pytest.param(
            {"host": "h", "password": "hunter2"},
            "nothing secret here",
            "nothing secret here",
            id="untouched",
        ),
    ],
)
def test_redact(data: dict[str, str], message: str, expected: str) -> None:
    params = db.params_from_secret(data, None)
    redacted = db.redact(message, params)
    assert redacted == expected
    for secret in params.secrets:
        assert secret not in redacted


def test_redact_without_params_is_identity() -> None:
    assert db.redact("postgresql://u:pw@h/d", None) == "postgresql://u:pw@h/d"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({"dsn": DSN}, id="dsn"),
        pytest.param({"host": "h", "user": "app", "password": "s3cr@t"}, id="discrete"),
    ],
)
def test_repr_never_shows_the_password(data: dict[str, str]) -> None:
    params = db.params_from_secret(data, None)
    for text in (repr(params), str(params)):
        assert text == "ConnectParams()"
        assert "s3cr" not in text
