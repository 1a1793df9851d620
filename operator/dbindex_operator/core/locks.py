"""The advisory lock every DDL session takes first, and what it re-checks under it. Pure.

Kopf's peering keeps one replica active most of the time, but not always: a paused leader's
work runs on, a standby resumes when a lease merely looks expired, and a second operator may be
started by hand. So correctness never rests on the lease. Before any DDL, the session that will
run it takes `pg_try_advisory_lock(key(schema, index))` (never the blocking form: a session
queued on a lock can deadlock a CIC, see POSTGRES.md) and keeps it for the statement's life; the
server releases it when that session ends, however it ends. Under the lock the session re-reads
the catalog: if the facts the plan was made from changed (the index appeared, became valid,
another backend builds on the table), it runs nothing and the next pass decides again.

The key is a function of the index identity only (schema and index name; the lock space is per
database already), so two operators, two replicas or two objects naming the same index meet on
the same lock, and every step of one index (build, replacement, drops, partition steps)
serializes on it.
"""

from __future__ import annotations

import hashlib
from typing import Any, Final

from dbindex_operator.core import catalog

# A prefix of our own, so our keys do not collide with an application's advisory locks on
# small integers or on hashes of bare names.
KEY_PREFIX: Final = "dbindex.dev/index"

TRY_LOCK: Final = "SELECT pg_try_advisory_lock($1::bigint)"

# Who holds our lock right now (for the message when we could not take it). $1, $2: halves().
LOCK_HOLDER: Final = """
    SELECT l.pid FROM pg_locks l
    WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND l.classid = $1::bigint::oid AND l.objid = $2::bigint::oid
    LIMIT 1
"""


class Abstained(Exception):
    """A DDL was not run: another session holds the index's lock, or the catalog changed since
    the decision. Nothing happened; the next pass decides again from the catalog."""

    def __init__(self, reason: str, *, quiet: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.quiet = quiet  # say it in the log only: another replica reports on the object


def key(schema: str, name: str) -> int:
    """A stable signed 64-bit advisory lock key for the index `schema`.`name` (exact names, as
    PostgreSQL stores them). The same in every process and release: a hash, not Python's
    salted hash()."""
    text = f"{KEY_PREFIX}\0{schema}\0{name}".encode()
    digest = hashlib.blake2b(text, digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def halves(lock_key: int) -> tuple[int, int]:
    """pg_locks shows a bigint key as classid (high 32 bits) and objid (low 32 bits)."""
    unsigned = lock_key & 0xFFFF_FFFF_FFFF_FFFF
    return unsigned >> 32, unsigned & 0xFFFF_FFFF


def facts(state: catalog.IndexState) -> dict[str, Any]:
    """The catalog facts a DDL decision rests on: which relations exist under our names, their
    validity, and who is building on the table. Sizes, progress counters and health are left
    out: they change all the time and never change what to do."""
    builder = state.builder
    return {
        "table": state.table_oid,
        "index": state.relation_oid,
        "kind": state.relation_kind,
        "valid": state.valid,
        "replacement": state.replacement_oid,
        "replacement valid": state.replacement_valid,
        "retired": state.retired_oid,
        "builder": None if builder is None else builder.pid,
        "partitions": tuple(
            (
                node.oid,
                tuple(sorted((i.oid, i.valid, i.parent) for i in node.indexes)),
                None if node.builder is None else node.builder.pid,
            )
            for node in state.partitions
        ),
    }


_SAYS: Final = {
    "table": "the table changed",
    "index": "the index was created or dropped",
    "kind": "the relation under the index's name changed",
    "valid": "the index's validity changed",
    "replacement": "the replacement index was created or dropped",
    "replacement valid": "the replacement index's validity changed",
    "retired": "the retired index was created or dropped",
    "builder": "another backend started or finished a CREATE INDEX on the table",
    "partitions": "the partitions or their indexes changed",
}


def changed(before: catalog.IndexState, now: catalog.IndexState) -> str | None:
    """Why the catalog read under the lock no longer supports the decision made from `before`;
    None: the same facts, go ahead."""
    old, new = facts(before), facts(now)
    reasons = [_SAYS[field] for field in old if old[field] != new[field]]
    return "; ".join(reasons) if reasons else None
