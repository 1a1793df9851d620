"""The only module that opens PostgreSQL connections: sessions, pools, and the read-only catalog
queries (their text lives in core/). Connection parameters: runtime/params.py."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any

import asyncpg

from dbindex_operator.core import catalog, catalog_rows, compat, errors, health, partitions, sql
from dbindex_operator.core import spec as specs
from dbindex_operator.runtime.params import ConnectParams as ConnectParams
from dbindex_operator.runtime.params import params_from_secret as params_from_secret
from dbindex_operator.runtime.params import redact as redact

# What asyncpg and the socket raise: the server's errors (with a SQLSTATE), the driver's, the
# network's. translated() is the one place they become the operator's error tree.
_DRIVER_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)

# Run on every session() right after connecting, before the caller's statements: the running
# work's runtime/guard.Guard (advisory lock + catalog re-check), set per task by executors/base.
GUARD: contextvars.ContextVar[Callable[[asyncpg.Connection], Awaitable[None]] | None] = (
    contextvars.ContextVar("ddl_guard", default=None)
)


@contextlib.contextmanager
def translated(params: ConnectParams, *, doing: str | None = None) -> Iterator[None]:
    """Raise driver errors as the error tree, redacted. With `doing` ("cannot connect to", "catalog
    query failed on") every failure is a ConnectionProblem: the database is not answering us.
    Without it, a BuildFailure carrying the most telling SQLSTATE: the statement failed."""
    try:
        yield
    except _DRIVER_ERRORS as exc:
        text = redact(describe_error(exc), params)
        if doing is not None:
            raise errors.ConnectionFailed(f"{doing} {params.describe()}: {text}") from None
        raise errors.BuildFailure(sqlstate_of(exc), text) from None


def sqlstate_of(exc: BaseException) -> str | None:
    """The most telling SQLSTATE: a lost connection (08003) names its cause when it has one,
    e.g. 57P01 when the backend was terminated; None when the network just broke."""
    cause: str | None = getattr(exc.__cause__, "sqlstate", None)
    own: str | None = getattr(exc, "sqlstate", None)
    return cause or own


async def connect(
    params: ConnectParams, *, timeout: float, server_settings: Mapping[str, str] | None = None
) -> asyncpg.Connection:
    with translated(params, doing="cannot connect to"):
        return await asyncpg.connect(
            **params.connect_kwargs(),
            timeout=timeout,
            server_settings=dict(server_settings or {}),
            statement_cache_size=0,
        )


@contextlib.asynccontextmanager
async def session(
    params: ConnectParams, *, timeout: float, server_settings: Mapping[str, str]
) -> AsyncIterator[asyncpg.Connection]:
    """A dedicated connection for one DDL statement, its settings in the startup packet (so the
    DDL is the only statement in its string, never in a transaction block). Every failure,
    connecting included, is a BuildFailure. A cancelled caller (deletion, shutdown) closes the
    socket at once: the server aborts the statement through client_connection_check_interval.
    The task's GUARD, if any, runs first (it may raise core.locks.Abstained: nothing ran)."""
    with translated(params):
        try:
            conn = await connect(params, timeout=timeout, server_settings=server_settings)
        except errors.ConnectionFailed as exc:
            raise errors.BuildFailure(None, exc.message) from None
        try:
            guard = GUARD.get()
            if guard is not None:
                await guard(conn)
            yield conn
        except asyncio.CancelledError:
            conn.terminate()
            raise
        finally:
            if not conn.is_closed():
                await _close_connection(conn)


async def _close_connection(conn: asyncpg.Connection) -> None:
    try:
        async with asyncio.timeout(5):
            await conn.close()
    except _DRIVER_ERRORS:
        conn.terminate()


async def create_pool(
    params: ConnectParams, *, timeout: float, server_settings: Mapping[str, str]
) -> Any:
    """A small pool for catalog reads and definition checks. One per database, shared by all of
    its objects; every statement on it is bounded by lock_timeout and statement_timeout."""
    with translated(params, doing="cannot connect to"):
        return await asyncpg.create_pool(
            **params.connect_kwargs(),
            min_size=0,
            max_size=2,
            timeout=timeout,
            server_settings=dict(server_settings),
            max_inactive_connection_lifetime=120,
        )


class Pools:
    """One small pool per distinct database (the same DSN from two Secrets shares one), counted
    by its users and closed when the last one lets go, or at shutdown."""

    def __init__(self, *, timeout: float, server_settings: Mapping[str, str]) -> None:
        self._timeout = timeout
        self._server_settings = dict(server_settings)
        self._pools: dict[ConnectParams, tuple[Any, int]] = {}

    async def acquire(self, params: ConnectParams) -> Any:
        if params in self._pools:
            pool, users = self._pools[params]
        else:
            pool, users = (
                await create_pool(
                    params, timeout=self._timeout, server_settings=self._server_settings
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
    except _DRIVER_ERRORS:
        pool.terminate()


async def fetch_states(
    pool: Any, targets: Sequence[tuple[str, str, str]], params: ConnectParams
) -> list[catalog.IndexState]:
    """One query for every index of the database, and one more for the partition trees of the
    partitioned tables among them (only when there are any). Each state carries the server's
    version (core/compat.py decides what it allows) and its row's fingerprint."""
    states = await fetch_changed_states(pool, targets, params, ())
    return [state for state in states if state is not None]  # none rests: one per target


async def fetch_changed_states(
    pool: Any,
    targets: Sequence[tuple[str, str, str]],
    params: ConnectParams,
    resting: Sequence[bytes | None],
) -> list[catalog.IndexState | None]:
    """fetch_states, but None for the i-th target when its row's fingerprint is resting[i]:
    the row its last decision read, which need not be parsed again to be skipped (an idle
    fleet's resync pass, runtime/resting.py)."""
    version = await server_version(pool, params)
    rows = await _fetch(pool, params, catalog.STATE, *catalog.state_arguments(targets))
    states: list[catalog.IndexState | None] = []
    for position, row in enumerate(rows):
        digest = catalog_rows.fingerprint(row, version)
        rests = position < len(resting) and resting[position] == digest
        states.append(
            None
            if rests
            else catalog_rows.state_from_row(row, server_version=version, fingerprint=digest)
        )
    roots = sorted({s.table_oid for s in states if s and s.table_kind == "p" and s.table_oid})
    if not roots:
        return states
    found: dict[int, list[Any]] = {}
    for row in await _fetch(pool, params, partitions.PARTITIONS, roots):
        found.setdefault(row["root"], []).append(row)
    trees = {root: partitions.nodes_from_rows(tree) for root, tree in found.items()}
    return [
        dataclasses.replace(s, partitions=trees.get(s.table_oid or 0, ()), fingerprint=b"")
        if s is not None and s.table_kind == "p"
        else s
        for s in states
    ]


async def server_version(pool: Any, params: ConnectParams) -> int:
    """The server's version as server_version_num (150004 for 15.4), from what asyncpg learnt
    in the connection handshake: no query."""
    with translated(params, doing="cannot connect to"):
        async with pool.acquire() as conn:
            version = conn.get_server_version()
    return compat.version_number(version.major, version.minor, version.micro)


async def fetch_health(
    pool: Any, targets: Sequence[tuple[str, str]], params: ConnectParams
) -> dict[int, health.Facts]:
    """One query for the health of these indexes ((schema, name)); keyed by position."""
    rows = await _fetch(
        pool, params, health.HEALTH, [t[0] for t in targets], [t[1] for t in targets]
    )
    return {int(row["ord"]) - 1: health.facts_from_row(row) for row in rows}


async def fetch_progress(
    pool: Any, pids: Sequence[int], params: ConnectParams
) -> dict[int, catalog.Progress]:
    rows = await _fetch(pool, params, catalog.PROGRESS, list(pids))
    return {row["backend"]: catalog.Progress.from_row(row, pid=row["backend"]) for row in rows}


async def probe_signature(
    pool: Any, spec: specs.IndexSpec, params: ConnectParams
) -> dict[str, Any]:
    """Run sql.probe_statements in a transaction that is always rolled back and return
    PostgreSQL's own signature of the scratch index. Raises errors.BuildFailure when PostgreSQL
    rejects the definition (a bad opclass, a volatile function, ...) or the check is cancelled,
    times out on a lock or loses its connection (errors.py says which are retryable)."""
    with translated(params):
        async with pool.acquire() as conn:
            tx = conn.transaction()
            await tx.start()
            try:
                for statement in sql.probe_statements(spec, catalog.PROBE_TABLE):
                    await conn.execute(statement)
                signature = await conn.fetchval(catalog.PROBE_SIGNATURE)
            finally:
                await tx.rollback()
    result: dict[str, Any] = catalog_rows.json_value(signature)
    return result


async def _fetch(pool: Any, params: ConnectParams, query: str, *args: Any) -> list[Any]:
    with translated(params, doing="catalog query failed on"):
        rows: list[Any] = await pool.fetch(query, *args)
        return rows


def describe_error(exc: BaseException) -> str:
    """The first line of an exception's message (its class name when it has none)."""
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0]
