"""How to reach one database, from a Secret's data: connection parameters that never show their
password, and redaction of error text. Pure (no driver); runtime/db.py connects with them."""

from __future__ import annotations

import dataclasses
import urllib.parse
from collections.abc import Mapping
from typing import Any

from dbindex_operator.core import errors

_DISCRETE_KEYS = ("host", "port", "dbname", "user", "password", "sslmode")


@dataclasses.dataclass(frozen=True)
class ConnectParams:
    """How to reach one database. repr() never shows the password or the DSN."""

    dsn: str | None = dataclasses.field(default=None, repr=False)
    options: tuple[tuple[str, str], ...] = dataclasses.field(default=(), repr=False)

    @property
    def identity(self) -> tuple[str, str, str]:
        """(host, port, dbname): what makes two Secrets point at the same database."""
        if self.dsn is not None:
            url = urllib.parse.urlsplit(self.dsn)
            query = urllib.parse.parse_qs(url.query)
            host = url.hostname or query.get("host", ["localhost"])[0]
            port = str(url.port or query.get("port", ["5432"])[0])
            dbname = urllib.parse.unquote(url.path.lstrip("/")) or (url.username or "")
            return host, port, dbname
        opts = dict(self.options)
        return opts.get("host", "localhost"), opts.get("port", "5432"), opts.get("dbname", "")

    @property
    def secrets(self) -> tuple[str, ...]:
        """Strings that must never reach a log, an event or a status."""
        found = []
        if self.dsn is not None:
            found.append(self.dsn)
            password = urllib.parse.urlsplit(self.dsn).password
            if password:
                found += [password, urllib.parse.unquote(password)]
        password = dict(self.options).get("password")
        if password:
            found.append(password)
        return tuple(found)

    def describe(self) -> str:
        host, port, dbname = self.identity
        return f"{host}:{port}/{dbname}"

    def connect_kwargs(self) -> dict[str, Any]:
        if self.dsn is not None:
            return {"dsn": self.dsn}
        opts = dict(self.options)
        kwargs: dict[str, Any] = {
            "host": opts.get("host"),
            "port": int(opts["port"]) if "port" in opts else None,
            "database": opts.get("dbname"),
            "user": opts.get("user"),
            "password": opts.get("password"),
        }
        if "sslmode" in opts:
            kwargs["ssl"] = opts["sslmode"]
        return {key: value for key, value in kwargs.items() if value is not None}


def params_from_secret(data: Mapping[str, str], key: str | None) -> ConnectParams:
    """Connection parameters from decoded Secret data (pure). Raises ConnectionProblem kinds."""
    if key is not None or "dsn" in data:
        name = key or "dsn"
        if name not in data:
            raise errors.SecretKeyMissing(f"the Secret has no key {name!r}")
        dsn = data[name].strip()
        scheme = urllib.parse.urlsplit(dsn).scheme
        if scheme not in ("postgres", "postgresql"):
            raise errors.InvalidDSN(
                f"key {name!r} must hold a postgresql:// URI (got scheme {scheme or 'none'!r})"
            )
        try:
            url = urllib.parse.urlsplit(dsn)
            _ = url.port
        except ValueError:
            raise errors.InvalidDSN(f"key {name!r} holds a malformed URI") from None
        return ConnectParams(dsn=dsn)
    options = tuple((k, data[k].strip()) for k in _DISCRETE_KEYS if k in data)
    if not any(k == "host" for k, _ in options):
        raise errors.SecretKeyMissing(
            "the Secret has neither a 'dsn' key nor discrete keys (host, port, dbname, ...)"
        )
    port = dict(options).get("port")
    if port is not None and not port.isdigit():
        raise errors.InvalidDSN("key 'port' must be a number")
    return ConnectParams(options=options)


def redact(message: str, params: ConnectParams | None) -> str:
    if params is None:
        return message
    for secret in sorted(params.secrets, key=len, reverse=True):
        message = message.replace(secret, "***")
    return message
