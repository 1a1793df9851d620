"""The only module that runs DDL: one CREATE INDEX CONCURRENTLY, or one DROP INDEX CONCURRENTLY.

Each runs on a dedicated connection whose session settings travel in the startup packet, so the
DDL is the only statement in its string and never inside a transaction block. Failures become
errors.BuildFailure with the SQLSTATE; retryable or not is decided by errors.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import asyncpg

from dbindex_operator.core import catalog, errors, settings, sql
from dbindex_operator.core import spec as specs
from dbindex_operator.runtime import db

logger = logging.getLogger(__name__)


async def build(
    params: db.ConnectParams,
    spec: specs.IndexSpec,
    config: settings.Settings,
    on_backend: Callable[[int], None],
) -> str:
    """Build spec's index; return its definition. `on_backend` learns the builder's PID first."""
    session = sql.session_settings(
        spec.build,
        schema=spec.schema,
        check_interval=config.check_interval,
        application_name=config.application_name,
    )
    try:
        conn = await db.connect(params, timeout=config.connect_timeout, server_settings=session)
    except errors.ConnectionFailed as exc:
        raise errors.BuildFailure(None, exc.message) from None
    try:
        on_backend(conn.get_server_pid())
        await conn.execute(sql.create_index(spec))
        row = await conn.fetchrow(catalog.INDEX_VALID, spec.schema, spec.name)
    except asyncio.CancelledError:
        # Deletion or shutdown: close the socket at once; the server aborts the build through
        # client_connection_check_interval and leaves an INVALID index for the caller to drop.
        conn.terminate()
        raise
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
        # Includes a connection lost mid-build: backend terminated, server restarted, network cut.
        raise errors.BuildFailure(
            _sqlstate(exc), db.redact(db.describe_error(exc), params)
        ) from None
    finally:
        if not conn.is_closed():
            await _close(conn)
    if row is None or not row[0]:
        raise errors.BuildFailure(None, "the index is not valid after the build returned")
    definition: str = row[1]
    return definition


async def drop(
    params: db.ConnectParams,
    schema: str,
    name: str,
    config: settings.Settings,
    *,
    only_invalid: bool,
    lock_timeout: str,
) -> bool:
    """DROP INDEX CONCURRENTLY; with only_invalid, only if the index exists and is INVALID.
    Returns whether a DROP ran."""
    session = {
        "application_name": config.application_name,
        "lock_timeout": lock_timeout,
        "client_connection_check_interval": config.check_interval,
    }
    conn = await db.connect(params, timeout=config.connect_timeout, server_settings=session)
    try:
        if only_invalid:
            invalid = await conn.fetchval(catalog.IS_INVALID_INDEX, schema, name)
            if not invalid:
                return False
        await conn.execute(sql.drop_index(schema, name))
        return True
    except asyncpg.PostgresError as exc:
        raise errors.BuildFailure(exc.sqlstate, db.redact(db.describe_error(exc), params)) from None
    except (TimeoutError, OSError, asyncpg.InterfaceError) as exc:
        raise errors.BuildFailure(None, db.redact(db.describe_error(exc), params)) from None
    finally:
        if not conn.is_closed():
            await _close(conn)


async def _close(conn: asyncpg.Connection) -> None:
    try:
        async with asyncio.timeout(5):
            await conn.close()
    except (TimeoutError, OSError, asyncpg.InterfaceError):
        conn.terminate()


def _sqlstate(exc: BaseException) -> str | None:
    """The most telling SQLSTATE: a lost connection (08003) names its cause when it has one,
    e.g. 57P01 when the backend was terminated; None when the network just broke."""
    cause: str | None = getattr(exc.__cause__, "sqlstate", None)
    own: str | None = getattr(exc, "sqlstate", None)
    return cause or own
