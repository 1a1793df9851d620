"""One-shot PostgreSQL access: each call opens a connection, runs, and closes it."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg


def with_database(url: str, dbname: str) -> str:
    """``url`` with its database (the path) replaced by ``dbname``."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{dbname}"))


def query(dsn: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    """Run one statement on a fresh connection; return its rows."""

    async def run() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(dsn, statement_cache_size=0)
        try:
            rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
            return rows
        finally:
            await conn.close()

    return asyncio.run(run())


def execute(dsn: str, sql: str) -> None:
    """Run one or more statements (no arguments) on a fresh connection, outside a transaction."""

    async def run() -> None:
        conn = await asyncpg.connect(dsn, statement_cache_size=0)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())
