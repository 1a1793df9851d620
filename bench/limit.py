"""p1's physical limit: the runbook's statements run by a plain asyncpg script, two tables at a
time, the longest chain of builds first. Part of the bench, not of the operator: it is what the
operator's scheduling could at best achieve on this server (no Kubernetes, no status, no
catalog reads), so operator / limit is the operator's own cost.

Only one CIC per table may run at a time (a second one queues behind the first's lock, and can
deadlock it: ../shared/POSTGRES.md), so the work is one chain of statements per table; `parallel`
workers each take the next chain, longest first (table pages x statements, the weight
core/parallelism.py's build_order uses), and run its statements one after another on one connection.
With `workers="operator"` (the default) the chains beside a dominating one run without parallel
workers, as the operator decides (core/parallelism.py, the same function); `workers="server"`
leaves every build the server's setting.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from collections.abc import Mapping, Sequence

import asyncpg

from dbindex_operator.core import parallelism

_STATEMENT = re.compile(
    r"CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+(?:IF\s+NOT\s+EXISTS\s+)?"
    r"(?P<name>\w+)\s+ON\s+(?:ONLY\s+)?(?P<table>[\w.]+)",
    re.IGNORECASE,
)


@dataclasses.dataclass(frozen=True)
class Statement:
    name: str  # the index
    table: str
    sql: str


@dataclasses.dataclass(frozen=True)
class Timing:
    name: str
    table: str
    started: float  # seconds from the run's start
    ended: float


@dataclasses.dataclass(frozen=True)
class Run:
    wall_s: float
    order: str
    parallel: int
    settings: Mapping[str, str]
    timings: Sequence[Timing]
    serial_tables: Sequence[str] = ()  # chains run with max_parallel_maintenance_workers 0


def parse(text: str) -> list[Statement]:
    """The CREATE INDEX CONCURRENTLY statements of a SQL file (comments dropped), in order."""
    body = "\n".join(line.split("--", 1)[0] for line in text.splitlines())
    found = []
    for raw in body.split(";"):
        sql = " ".join(raw.split())
        if not sql:
            continue
        match = _STATEMENT.match(sql)
        if match is None:
            raise ValueError(f"not a CREATE INDEX CONCURRENTLY statement: {sql[:80]!r}")
        found.append(Statement(match["name"], match["table"], sql))
    return found


def chains(
    statements: Sequence[Statement], pages: Mapping[str, int], order: str = "longest"
) -> list[list[Statement]]:
    """One chain per table (its statements in file order). `longest`: the most work first
    (pages x statements, then pages), as the operator orders its builds; `file`: the order the
    tables first appear in the file (the runbook's order: a person working down it)."""
    by_table: dict[str, list[Statement]] = {}
    for statement in statements:
        by_table.setdefault(statement.table, []).append(statement)
    tables = list(by_table)
    if order == "longest":
        tables.sort(
            key=lambda t: (pages.get(t, 0) * len(by_table[t]), pages.get(t, 0)), reverse=True
        )
    elif order != "file":
        raise ValueError(f"unknown order {order!r}")
    return [by_table[t] for t in tables]


def run(
    dsn: str,
    statements: Sequence[Statement],
    pages: Mapping[str, int],
    *,
    parallel: int = 2,
    order: str = "longest",
    settings: Mapping[str, str] | None = None,
    workers: str = "operator",
) -> Run:
    """Run the statements `parallel` tables at a time; wall time from the first connection
    attempt to the last statement's end (the same span psql's wall time covers)."""
    work = chains(statements, pages, order)
    serial: frozenset[str] = frozenset()
    if workers == "operator":
        weights = {i: pages.get(c[0].table, 0) * len(c) for i, c in enumerate(work)}
        serial = frozenset(work[i][0].table for i in parallelism.serial_tables(weights, parallel))
    elif workers != "server":
        raise ValueError(f"unknown workers policy {workers!r}")
    return asyncio.run(_run(dsn, work, parallel, order, dict(settings or {}), serial))


async def _run(
    dsn: str,
    work: list[list[Statement]],
    parallel: int,
    order: str,
    settings: dict[str, str],
    serial: frozenset[str],
) -> Run:
    queue: asyncio.Queue[list[Statement]] = asyncio.Queue()
    for chain in work:
        queue.put_nowait(chain)
    timings: list[Timing] = []
    started = time.monotonic()

    async def worker() -> None:
        conn: asyncpg.Connection | None = None
        try:
            while not queue.empty():
                chain = queue.get_nowait()
                if conn is None:
                    conn = await asyncpg.connect(
                        dsn, statement_cache_size=0, server_settings=settings
                    )
                await conn.execute(
                    "SET max_parallel_maintenance_workers = 0"
                    if chain[0].table in serial
                    else "RESET max_parallel_maintenance_workers"
                )
                for statement in chain:
                    began = time.monotonic() - started
                    await conn.execute(statement.sql)
                    ended = time.monotonic() - started
                    timings.append(Timing(statement.name, statement.table, began, ended))
        finally:
            if conn is not None:
                await conn.close()

    await asyncio.gather(*(worker() for _ in range(min(parallel, len(work)) or 1)))
    wall = time.monotonic() - started
    timings.sort(key=lambda t: t.started)
    return Run(wall, order, parallel, settings, timings, sorted(serial))


def table_pages(dsn: str, tables: Sequence[str]) -> dict[str, int]:
    """pg_class.relpages of each table (what the operator's build order weighs)."""

    async def fetch() -> dict[str, int]:
        conn = await asyncpg.connect(dsn, statement_cache_size=0)
        try:
            rows = await conn.fetch(
                "SELECT t, c.relpages FROM unnest($1::text[]) AS t "
                "JOIN pg_class c ON c.oid = to_regclass(t)",
                list(tables),
            )
        finally:
            await conn.close()
        return {row["t"]: int(row["relpages"]) for row in rows}

    return asyncio.run(fetch())
