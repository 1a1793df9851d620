"""The only module that opens PostgreSQL connections: connection parameters, pools, and the
read-only catalog queries (catalog.py holds their text)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

from dbindex_operator.core import catalog, errors, sql
from dbindex_operator.core import spec as specs

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


async def connect(
    params: ConnectParams, *, timeout: float, server_settings: Mapping[str, str] | None = None
) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(
            **params.connect_kwargs(),
            timeout=timeout,
            server_settings=dict(server_settings or {}),
            statement_cache_size=0,
        )
    except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise errors.ConnectionFailed(
            f"cannot connect to {params.describe()}: {redact(describe_error(exc), params)}"
        ) from None


async def create_pool(params: ConnectParams, *, timeout: float, application_name: str) -> Any:
    """A small pool for catalog reads. One per database, shared by all of its objects."""
    try:
        return await asyncpg.create_pool(
            **params.connect_kwargs(),
            min_size=0,
            max_size=2,
            timeout=timeout,
            server_settings={"application_name": application_name},
            max_inactive_connection_lifetime=120,
        )
    except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise errors.ConnectionFailed(
            f"cannot connect to {params.describe()}: {redact(describe_error(exc), params)}"
        ) from None


class Pools:
    """One small pool per distinct database (the same DSN from two Secrets shares one), counted
    by its users and closed when the last one lets go, or at shutdown."""

    def __init__(self, *, timeout: float, application_name: str) -> None:
        self._timeout = timeout
        self._application_name = application_name
        self._pools: dict[ConnectParams, tuple[Any, int]] = {}

    async def acquire(self, params: ConnectParams) -> Any:
        if params in self._pools:
            pool, users = self._pools[params]
        else:
            pool, users = (
                await create_pool(
                    params, timeout=self._timeout, application_name=self._application_name
                ),
                0,
            )
        self._pools[params] = (pool, users + 1)
        return pool

    async def release(self, params: ConnectParams) -> None:
        pool, users = self._pools.get(params, (None, 0))
        if pool is None:
            return
        if users > 1:
            self._pools[params] = (pool, users - 1)
            return
        del self._pools[params]
        await _close_pool(pool)

    async def close(self) -> None:
        pools = [pool for pool, _ in self._pools.values()]
        self._pools.clear()
        for pool in pools:
            await _close_pool(pool)


async def _close_pool(pool: Any) -> None:
    try:
        async with asyncio.timeout(5):
            await pool.close()
    except Exception:
        pool.terminate()


async def fetch_states(
    pool: Any, targets: Sequence[tuple[str, str, str]], params: ConnectParams
) -> list[catalog.IndexState]:
    """One query for every index of the database."""
    rows = await _fetch(pool, params, catalog.STATE, *catalog.state_arguments(targets))
    return [catalog.state_from_row(row) for row in rows]


async def fetch_progress(
    pool: Any, pids: Sequence[int], params: ConnectParams
) -> dict[int, catalog.Progress]:
    rows = await _fetch(pool, params, catalog.PROGRESS, list(pids))
    return {row["backend"]: catalog.Progress.from_row(row, pid=row["backend"]) for row in rows}


async def probe_signature(
    pool: Any, spec: specs.IndexSpec, params: ConnectParams
) -> dict[str, Any]:
    """Build spec's index on an empty scratch copy of its table in a rolled-back transaction and
    return PostgreSQL's own signature of it. Raises errors.BuildFailure when PostgreSQL rejects
    the definition (a bad opclass, a volatile function, ...)."""
    try:
        async with pool.acquire() as conn:
            tx = conn.transaction()
            await tx.start()
            try:
                await conn.execute(f"SET LOCAL search_path = {sql.ident(spec.schema)}")
                await conn.execute(
                    f"CREATE TEMP TABLE {catalog.PROBE_TABLE} "
                    f"(LIKE {sql.qualified(spec.schema, spec.table)}) ON COMMIT DROP"
                )
                await conn.execute(
                    sql.create_index(
                        spec, concurrently=False, table=f"pg_temp.{catalog.PROBE_TABLE}"
                    )
                )
                signature = await conn.fetchval(catalog.PROBE_SIGNATURE)
            finally:
                await tx.rollback()
    except asyncpg.PostgresError as exc:
        raise errors.BuildFailure(exc.sqlstate, redact(describe_error(exc), params)) from None
    except (TimeoutError, OSError, asyncpg.InterfaceError) as exc:
        raise errors.ConnectionFailed(redact(describe_error(exc), params)) from None
    result: dict[str, Any] = json.loads(signature) if isinstance(signature, str) else signature
    return result


async def _fetch(pool: Any, params: ConnectParams, query: str, *args: Any) -> list[Any]:
    try:
        rows: list[Any] = await pool.fetch(query, *args)
        return rows
    except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise errors.ConnectionFailed(
            f"catalog query on {params.describe()} failed: {redact(describe_error(exc), params)}"
        ) from None


def describe_error(exc: BaseException) -> str:
    """The first line of an exception's message (its class name when it has none)."""
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0]
