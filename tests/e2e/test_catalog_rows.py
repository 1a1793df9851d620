"""runtime/db.fetch_changed_states on a real PostgreSQL: a row whose fingerprint an object at rest
already decided on comes back unparsed (None); any change to it, and a partitioned table's row
whatever it is, comes back parsed (issue #15 section 4: an idle fleet's resync)."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from dbindex_operator.core import catalog
from dbindex_operator.runtime import db
from tests.harness import pg

TARGETS = [("public", "t", "t_a"), ("public", "t", "t_b"), ("public", "p", "p_a")]
SCHEMA = """
CREATE TABLE t (a int, b int);
CREATE INDEX t_a ON t (a);
CREATE INDEX t_b ON t (b);
CREATE TABLE p (a int) PARTITION BY RANGE (a);
CREATE TABLE p_1 PARTITION OF p FOR VALUES FROM (0) TO (10);
CREATE INDEX p_a ON p (a);
"""


def _fetch(dsn: str, resting: list[bytes | None]) -> list[catalog.IndexState | None]:
    async def run() -> list[catalog.IndexState | None]:
        pool: Any = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
        try:
            params = db.params_from_secret({"dsn": dsn}, None)
            return await db.fetch_changed_states(pool, TARGETS, params, resting)
        finally:
            await pool.close()

    return asyncio.run(run())


def test_a_resting_row_is_not_parsed_and_a_changed_one_is(database: str) -> None:
    pg.execute(database, SCHEMA)
    first = _fetch(database, [])
    assert all(state is not None for state in first)
    t_a, t_b, p_a = first
    assert t_a and t_b and p_a
    assert t_a.index_exists and t_a.server_version >= 140000 and len(t_a.fingerprint) == 16
    assert p_a.table_kind == "p" and p_a.partitions and p_a.fingerprint == b""

    # The same rows: the two at rest come back unparsed; the partitioned one never rests.
    again = _fetch(database, [t_a.fingerprint, t_b.fingerprint, p_a.fingerprint])
    assert again[0] is None and again[1] is None
    assert again[2] is not None and again[2].partitions

    # A change by hand to one row: that one is parsed again, with a new fingerprint.
    pg.execute(database, "DROP INDEX t_b")
    changed = _fetch(database, [t_a.fingerprint, t_b.fingerprint, None])
    assert changed[0] is None
    assert changed[1] is not None and not changed[1].index_exists
    assert changed[1].fingerprint != t_b.fingerprint

    # fetch_states is the same query with nothing at rest: every state, parsed the same way.
    assert _fetch(database, [None, None, None])[0] == t_a
