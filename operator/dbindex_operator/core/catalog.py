"""Read-only catalog SQL as named constants, and the facts it returns as frozen dataclasses.

One query (STATE) answers, for every index of one database at once: does the table exist, does
a relation of the index's name exist, is it an index on that table, valid, ready, what is its
definition, and is some backend running CREATE INDEX on the table right now. The definition is
compared as a *signature* of catalog facts (SIGNATURE), never as pg_get_indexdef text.
Its rows become IndexStates in catalog_rows.py.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from typing import Any, Final

from dbindex_operator.core import names
from dbindex_operator.core.signature import SIGNATURE as SIGNATURE
from dbindex_operator.core.signature import signature_of

PROGRESS_COLUMNS: Final = """
    p.pid, p.phase, p.index_relid, p.blocks_total, p.blocks_done, p.tuples_total,
    p.tuples_done, p.lockers_total, p.lockers_done, p.current_locker_pid
"""

# $1 schemas, $2 tables, $3 index names, $4 replacement names, $5 retired names, $6 the pattern
# of REINDEX CONCURRENTLY's leftovers (names.py): parallel text arrays, one element per
# DatabaseIndex.
# pg_get_indexdef and pg_get_expr take ACCESS SHARE on the index's table: behind a session that
# holds (or queues for) ACCESS EXCLUSIVE on it, they would stall the whole database's pass. Such
# rows skip the definition and name the locker instead (`locked_by`); the pool's lock_timeout
# bounds the rare race where the lock arrives between the two.
STATE: Final = f"""
    WITH exclusive AS MATERIALIZED (
        SELECT l.relation, min(l.pid) AS pid
        FROM pg_locks l
        WHERE l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock'
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        GROUP BY l.relation
    )
    SELECT w.ord,
           t.oid AS table_oid,
           t.relpages AS table_pages,
           t.relkind AS table_kind,
           i.oid AS relation_oid,
           i.relkind AS relation_kind,
           x.indrelid = t.oid AS on_table,
           x.indisvalid AS valid,
           COALESCE(lt.pid, li.pid) AS locked_by,
           CASE WHEN x.indexrelid IS NOT NULL AND lt.pid IS NULL AND li.pid IS NULL
                THEN pg_get_indexdef(x.indexrelid) END AS definition,
           CASE WHEN x.indexrelid IS NOT NULL AND lt.pid IS NULL AND li.pid IS NULL
                THEN {SIGNATURE} END AS signature,
           (SELECT c.contype FROM pg_constraint c WHERE c.conindid = x.indexrelid
            ORDER BY c.contype = 'f' LIMIT 1) AS constraint_kind,
           x.indisreplident AS replica_identity,
           x.indisclustered AS clustered,
           obj_description(x.indexrelid, 'pg_class') AS comment,
           (SELECT json_agg(json_build_array(a.attnum, a.attstattarget) ORDER BY a.attnum)
            FROM pg_attribute a
            WHERE a.attrelid = x.indexrelid AND a.attstattarget > 0) AS stat_targets,
           it.oid AS replacement_oid,
           xt.indisvalid AS replacement_valid,
           CASE WHEN xt.indisvalid AND lt.pid IS NULL
                THEN {signature_of("xt")} END AS replacement_signature,
           ir.oid AS retired_oid,
           (SELECT json_agg(c.relname ORDER BY c.relname)
            FROM pg_index xc JOIN pg_class c ON c.oid = xc.indexrelid
            WHERE xc.indrelid = t.oid AND NOT xc.indisvalid
              AND c.relname ~ w.reindex_pattern) AS reindex_leftovers,
           CASE WHEN p.pid IS NOT NULL THEN json_build_object(
               'pid', p.pid, 'phase', p.phase, 'index_relid', p.index_relid,
               'blocks_total', p.blocks_total, 'blocks_done', p.blocks_done,
               'tuples_total', p.tuples_total, 'tuples_done', p.tuples_done,
               'lockers_total', p.lockers_total, 'lockers_done', p.lockers_done,
               'current_locker_pid', p.current_locker_pid,
               'blocking_pids', pg_blocking_pids(p.pid)) END AS builder
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
         WITH ORDINALITY
         AS w(schema_name, table_name, index_name, replacement_name, retired_name,
              reindex_pattern, ord)
    LEFT JOIN pg_namespace n ON n.nspname = w.schema_name
    LEFT JOIN pg_class t ON t.relnamespace = n.oid AND t.relname = w.table_name
                        AND t.relkind IN ('r', 'm', 'p')
    LEFT JOIN pg_class i ON i.relnamespace = n.oid AND i.relname = w.index_name
    LEFT JOIN pg_index x ON x.indexrelid = i.oid
    LEFT JOIN exclusive lt ON lt.relation = x.indrelid
    LEFT JOIN exclusive li ON li.relation = x.indexrelid
    LEFT JOIN pg_class it ON it.relnamespace = n.oid AND it.relname = w.replacement_name
                         AND it.relkind IN ('i', 'I')
    LEFT JOIN pg_index xt ON xt.indexrelid = it.oid AND xt.indrelid = t.oid
    LEFT JOIN pg_class ir ON ir.relnamespace = n.oid AND ir.relname = w.retired_name
                         AND ir.relkind IN ('i', 'I')
    LEFT JOIN LATERAL (
        SELECT {PROGRESS_COLUMNS}
        FROM pg_stat_progress_create_index p
        WHERE p.relid = t.oid
          AND p.datid = (SELECT oid FROM pg_database WHERE datname = current_database())
        ORDER BY (p.index_relid IN (i.oid, it.oid)) DESC NULLS LAST, p.pid
        LIMIT 1
    ) p ON true
    ORDER BY w.ord
"""

# $1: backend PIDs of our own builders. A PID with no progress row is still waiting for its
# first lock on the table (PostgreSQL shows no row until then).
PROGRESS: Final = f"""
    SELECT b.pid AS backend, {PROGRESS_COLUMNS}, pg_blocking_pids(b.pid) AS blocking_pids
    FROM unnest($1::int[]) AS b(pid)
    LEFT JOIN pg_stat_progress_create_index p ON p.pid = b.pid
"""

# The desired signature: the same index built (not concurrently, instantly) on an empty scratch
# copy of the table inside a transaction that is always rolled back.
PROBE_TABLE: Final = "dbindex_probe"
PROBE_SIGNATURE: Final = f"""
    SELECT {SIGNATURE} FROM pg_index x WHERE x.indrelid = 'pg_temp.{PROBE_TABLE}'::regclass
"""

# Only INVALID indexes are dropped as leftovers: re-checked right before the drop.
IS_INVALID_INDEX: Final = """
    SELECT NOT x.indisvalid FROM pg_index x
    JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_namespace n ON n.oid = i.relnamespace
    WHERE n.nspname = $1 AND i.relname = $2
"""

# The schema amcheck is installed in, or no row.
AMCHECK_SCHEMA: Final = """
    SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
    WHERE e.extname = 'amcheck'
"""

INDEX_VALID: Final = """
    SELECT x.indisvalid, pg_get_indexdef(x.indexrelid) FROM pg_index x
    JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_namespace n ON n.oid = i.relnamespace
    WHERE n.nspname = $1 AND i.relname = $2
"""


@dataclasses.dataclass(frozen=True)
class Progress:
    """One pg_stat_progress_create_index row (or the lack of one, phase None)."""

    pid: int
    phase: str | None = None
    index_relid: int | None = None
    blocks_total: int = 0
    blocks_done: int = 0
    tuples_total: int = 0
    tuples_done: int = 0
    lockers_total: int = 0
    lockers_done: int = 0
    current_locker_pid: int = 0
    blocking_pids: tuple[int, ...] = ()

    @classmethod
    def from_row(cls, row: Mapping[str, Any], pid: int | None = None) -> Progress:
        def num(key: str) -> int:
            return int(row.get(key) or 0)

        return cls(
            pid=int(pid if pid is not None else row["pid"]),
            phase=row.get("phase"),
            # json_build_object renders an oid as a JSON string (STATE's builder): compare ints.
            index_relid=None if row.get("index_relid") is None else int(row["index_relid"]),
            blocks_total=num("blocks_total"),
            blocks_done=num("blocks_done"),
            tuples_total=num("tuples_total"),
            tuples_done=num("tuples_done"),
            lockers_total=num("lockers_total"),
            lockers_done=num("lockers_done"),
            current_locker_pid=num("current_locker_pid"),
            blocking_pids=tuple(sorted(row.get("blocking_pids") or ())),
        )


@dataclasses.dataclass(frozen=True)
class IndexState:
    """What the catalog says about one desired index."""

    table_oid: int | None = None
    table_pages: int = 0
    table_kind: str | None = None  # 'p': partitioned, which CIC cannot build on
    relation_oid: int | None = None
    relation_kind: str | None = None  # 'i' for an index; anything else is a name clash
    on_table: bool = False
    valid: bool = False
    definition: str | None = None
    signature: Mapping[str, Any] | None = None
    builder: Progress | None = None  # a CREATE INDEX running on the table right now
    locked_by: int | None = None  # a backend holding/awaiting ACCESS EXCLUSIVE: no definition
    constraint_kind: str | None = None  # p/u/x: a constraint owns the index; f: a FK uses it
    replica_identity: bool = False
    clustered: bool = False
    comment: str | None = None
    stat_targets: tuple[tuple[int, int], ...] = ()  # (column number, statistics target)
    replacement_oid: int | None = None  # names.replacement(name): a new definition being built
    replacement_valid: bool = False
    replacement_signature: Mapping[str, Any] | None = None
    retired_oid: int | None = None  # names.retired(name): the old index, swapped out
    # INVALID copies a failed or killed REINDEX CONCURRENTLY left (names.reindex_leftovers)
    reindex_leftovers: tuple[str, ...] = ()
    partitions: tuple[Any, ...] = ()  # partitions.Node, the table first: for table_kind 'p'
    server_version: int = 0  # server_version_num (db.fetch_states); 0: not known
    # A digest of the catalog row (and server version) this state was parsed from; empty when
    # the state is more than its row (a partition tree): see runtime/resting.py.
    fingerprint: bytes = dataclasses.field(default=b"", compare=False)

    @property
    def table_exists(self) -> bool:
        return self.table_oid is not None

    @property
    def index_exists(self) -> bool:
        return self.relation_oid is not None

    @property
    def replacement_building(self) -> bool:
        """Some live backend is building the replacement index."""
        return (
            self.builder is not None
            and self.replacement_oid is not None
            and self.builder.index_relid == self.replacement_oid
        )

    @property
    def built_by_someone(self) -> bool:
        """Some live backend is building THIS index (its progress row names our oid)."""
        return (
            self.builder is not None
            and self.relation_oid is not None
            and self.builder.index_relid == self.relation_oid
        )


def state_arguments(
    targets: Sequence[tuple[str, str, str]],
) -> tuple[list[str], ...]:
    """(schema, table, index) triples -> the six parallel arrays STATE takes."""
    derived = [_derived_names(t[2]) for t in targets]
    return (
        [t[0] for t in targets],
        [t[1] for t in targets],
        [t[2] for t in targets],
        [d[0] for d in derived],
        [d[1] for d in derived],
        [d[2] for d in derived],
    )


# Every resync pass asks again for each object's derived names (two SHA-256 digests and three
# escaped regexes): a quarter of an idle fleet's CPU, for names that change only with the
# declared name. About 350 bytes per name kept; bounded for a fleet whose names churn.
@functools.lru_cache(maxsize=32_768)
def _derived_names(name: str) -> tuple[str, str, str]:
    return names.replacement(name), names.retired(name), names.reindex_leftovers(name)
