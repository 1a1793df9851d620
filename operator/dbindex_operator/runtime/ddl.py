"""The only module that runs DDL: one CREATE INDEX CONCURRENTLY, DROP INDEX CONCURRENTLY,
REINDEX INDEX CONCURRENTLY or amcheck verification per session.

Each runs in its own db.session (settings in the startup packet, never in a transaction block);
its text comes from core/sql.py. Every failure is errors.BuildFailure with the SQLSTATE, and
errors.py says whether it is retryable.
"""

from __future__ import annotations

from collections.abc import Callable

from dbindex_operator.core import catalog, errors, settings, sql
from dbindex_operator.core import spec as specs
from dbindex_operator.runtime import db


async def build(
    params: db.ConnectParams,
    spec: specs.IndexSpec,
    config: settings.Settings,
    on_backend: Callable[[int], None],
    *,
    name: str | None = None,
    schema: str | None = None,
    table: str | None = None,
) -> str:
    """Build spec's index (under `name` instead of the declared one: a replacement or a
    partition's; on `schema`.`table`: a partition); return its definition. `on_backend` learns
    the builder's PID first, so its progress can be polled."""
    session = sql.session_settings(
        spec.build,
        schema=spec.schema,
        check_interval=config.check_interval,
        application_name=config.application_name,
    )
    async with db.session(params, timeout=config.connect_timeout, server_settings=session) as conn:
        on_backend(conn.get_server_pid())
        target = None if table is None else sql.qualified(schema or spec.schema, table)
        await conn.execute(sql.create_index(spec, name=name, table=target))
        row = await conn.fetchrow(catalog.INDEX_VALID, schema or spec.schema, name or spec.name)
    if row is None or not row[0]:
        raise errors.BuildFailure(None, "the index is not valid after the build returned")
    definition: str = row[1]
    return definition


async def reindex(
    params: db.ConnectParams,
    spec: specs.IndexSpec,
    config: settings.Settings,
    on_backend: Callable[[int], None],
) -> None:
    """REINDEX INDEX CONCURRENTLY of spec's index, with the build's session settings (memory,
    workers, timeouts); `on_backend` learns its PID for the progress polls. A failure leaves an
    INVALID `_ccnew`/`_ccold` copy, which the next pass finds in the catalog and drops."""
    session = sql.session_settings(
        spec.build,
        schema=spec.schema,
        check_interval=config.check_interval,
        application_name=config.application_name,
    )
    async with db.session(params, timeout=config.connect_timeout, server_settings=session) as conn:
        on_backend(conn.get_server_pid())
        await conn.execute(sql.reindex(spec.schema, spec.name))


async def verify(
    params: db.ConnectParams, schema: str, name: str, config: settings.Settings, lock_timeout: str
) -> bool:
    """amcheck's bt_index_check with heapallindexed; False when amcheck is not installed in the
    database (the operator never installs extensions). Corruption raises BuildFailure with
    SQLSTATE XX001/XX002 (core/maintenance.py)."""
    base = {"application_name": config.application_name, "lock_timeout": lock_timeout}
    async with db.session(params, timeout=config.connect_timeout, server_settings=base) as conn:
        home = await conn.fetchval(catalog.AMCHECK_SCHEMA)
        if home is None:
            return False
        # Only amcheck's own schema on the path (pg_catalog is always searched first).
        await conn.execute(f"SET search_path TO {sql.ident(home)}")
        await conn.execute(sql.verify(schema, name))
        return True


async def drop(
    params: db.ConnectParams,
    schema: str,
    name: str,
    config: settings.Settings,
    *,
    only_invalid: bool,
    lock_timeout: str,
    concurrently: bool = True,
) -> bool:
    """DROP INDEX CONCURRENTLY; with only_invalid, only if the index exists and is INVALID
    (re-checked on the dropping session itself). Returns whether a DROP ran."""
    session = {
        "application_name": config.application_name,
        "lock_timeout": lock_timeout,
        "client_connection_check_interval": config.check_interval,
    }
    async with db.session(params, timeout=config.connect_timeout, server_settings=session) as conn:
        if only_invalid and not await conn.fetchval(catalog.IS_INVALID_INDEX, schema, name):
            return False
        await conn.execute(sql.drop_index(schema, name, concurrently=concurrently))
        return True


async def swap(
    params: db.ConnectParams,
    spec: specs.IndexSpec,
    statements: list[str],
    config: settings.Settings,
) -> None:
    """Run sql.swap_statements in one transaction, every lock bounded by the spec's
    lock_timeout: readers see the old index or the new one under the declared name, never none."""
    session = {
        "application_name": config.application_name,
        "lock_timeout": spec.build.lock_timeout,
        "statement_timeout": "1min",
    }
    async with db.session(params, timeout=config.connect_timeout, server_settings=session) as conn:
        transaction = conn.transaction()
        await transaction.start()
        try:
            for statement in statements:
                await conn.execute(statement)
        except BaseException:
            if not conn.is_closed():
                await transaction.rollback()
            raise
        await transaction.commit()


async def run(
    params: db.ConnectParams, statements: list[str], config: settings.Settings, lock_timeout: str
) -> None:
    """Quick DDL, one statement at a time outside a transaction block (CREATE INDEX ... ON ONLY,
    ALTER INDEX ... ATTACH PARTITION), every lock bounded by lock_timeout."""
    session = {"application_name": config.application_name, "lock_timeout": lock_timeout}
    async with db.session(params, timeout=config.connect_timeout, server_settings=session) as conn:
        for statement in statements:
            await conn.execute(statement)
