"""spec.maintenance end to end (DBINDEX_HEALTH_INTERVAL 2 s in this suite): a bloated index is
rebuilt with REINDEX INDEX CONCURRENTLY (phase Reindexing with progress), a killed reindex's
INVALID `_ccnew` copy is dropped from the catalog's word alone, and amcheck finds a corrupted
btree index (its file overwritten while a throwaway server was stopped), which is then rebuilt."""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
from pathlib import Path

import asyncpg

from tests.e2e.conftest import Kube, Operator, Target, connection, is_ready, sql
from tests.harness import scratch

FAST_RETRY = {"maxAttempts": 5, "initialBackoffSeconds": 1, "maxBackoffSeconds": 2}


class OpenWrite:
    """A transaction that wrote to `table` and stays open: REINDEX CONCURRENTLY waits for it
    ("waiting for writers before build") after its `_ccnew` copy exists."""

    def __init__(self, dsn: str, table: str) -> None:
        self.dsn, self.table = dsn, table
        self.pid = 0
        self._ready, self._release = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _run(self) -> None:
        conn = await asyncpg.connect(self.dsn)
        try:
            tx = conn.transaction()
            await tx.start()
            await conn.execute(f"INSERT INTO {self.table} (id) VALUES (-1)")
            self.pid = conn.get_server_pid()
            self._ready.set()
            while not self._release.is_set():
                await asyncio.sleep(0.1)
            await tx.rollback()
        finally:
            await conn.close()

    def __enter__(self) -> OpenWrite:
        self._thread.start()
        assert self._ready.wait(10), "the open write did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        self._thread.join(10)


def _wait_event(kube: Kube, namespace: str, name: str, reason: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while reason not in kube.event_reasons(namespace, name):
        assert time.monotonic() < deadline, f"no {reason} Event for {namespace}/{name}"
        time.sleep(0.3)


def _event_messages(kube: Kube, namespace: str, name: str, reason: str) -> list[str]:
    return [str(e.message) for e in kube.events(namespace, name) if e.reason == reason]


def _table(db: Target, rows: int) -> None:
    sql(db.dsn, "CREATE TABLE t (id int, email text)")
    sql(
        db.dsn,
        f"INSERT INTO t SELECT g, 'user' || g || '@example.com' FROM generate_series(1, {rows}) g",
    )
    sql(db.dsn, "ANALYZE t")


def _copies(dsn: str, name: str) -> list[str]:
    rows = sql(dsn, "SELECT relname FROM pg_class WHERE relname LIKE $1 || '%_cc%'", name[:50])
    return sorted(r["relname"] for r in rows)


def _definition(dsn: str, name: str) -> str:
    return str(sql(dsn, "SELECT pg_get_indexdef($1::regclass) AS d", name)[0]["d"])


def _size(dsn: str, name: str) -> int:
    return int(sql(dsn, "SELECT pg_relation_size($1::regclass) AS n", name)[0]["n"])


def _backend(dsn: str, text: str) -> int | None:
    rows = sql(
        dsn,
        "SELECT pid FROM pg_stat_activity WHERE query LIKE $1 AND pid <> pg_backend_pid()",
        f"{text}%",
    )
    return int(rows[0]["pid"]) if rows else None


def test_a_bloated_index_is_reindexed_and_a_killed_reindex_is_cleaned_up(
    db: Target, kube: Kube, operator: Operator
) -> None:
    _table(db, 200_000)
    spec = {
        "connection": connection(),
        "table": "t",
        "columns": [{"column": "email"}],
        "maintenance": {"reindexWhenBloatPercentAbove": 40},
        "retry": FAST_RETRY,
    }
    kube.create(db.namespace, "t-email", spec)
    kube.wait(db.namespace, "t-email", is_ready)
    definition, fresh_size = _definition(db.dsn, "t_email"), _size(db.dsn, "t_email")
    fresh = kube.wait(
        db.namespace, "t-email", lambda s: "bloatPercent" in (s.get("health") or {}), timeout=30
    )
    assert fresh["health"]["bloatPercent"] < 40, "a fresh index is not reindexed"

    with OpenWrite(db.dsn, "t") as writer:
        sql(db.dsn, "DELETE FROM t WHERE id % 10 <> 0")
        sql(db.dsn, "VACUUM ANALYZE t")
        bloated_size = _size(db.dsn, "t_email")
        waiting = kube.wait(
            db.namespace,
            "t-email",
            lambda s: (
                s.get("phase") == "Reindexing"
                and writer.pid in (s.get("progress") or {}).get("blockingPids", [])
            ),
            timeout=60,
            what="Reindexing, blocked by the open write",
        )
        assert waiting["conditions"][0]["reason"] == "IndexBloated"
        assert "REINDEX INDEX CONCURRENTLY" in waiting["conditions"][0]["message"]
        assert _copies(db.dsn, "t_email") == ["t_email_ccnew"]
        # Kill the operator's own reindex: its INVALID copy stays behind.
        pid = _backend(db.dsn, "REINDEX INDEX CONCURRENTLY")
        assert pid is not None
        sql(db.dsn, "SELECT pg_terminate_backend($1)", pid)
        _wait_event(kube, db.namespace, "t-email", "ReindexFailed", timeout=30)

    reasons = lambda: kube.event_reasons(db.namespace, "t-email")  # noqa: E731
    done = kube.wait(
        db.namespace,
        "t-email",
        lambda s: is_ready(s) and "reindexedAt" in (s.get("health") or {}),
        timeout=90,
        what="Ready after the second reindex",
    )
    assert done["health"]["reindexReason"] == "IndexBloated"
    assert "InvalidIndexDropped" in reasons() and "Reindexed" in reasons()
    dropped = _event_messages(kube, db.namespace, "t-email", "InvalidIndexDropped")
    assert any("t_email_ccnew" in m for m in dropped), dropped
    assert _copies(db.dsn, "t_email") == []
    assert _definition(db.dsn, "t_email") == definition
    assert _size(db.dsn, "t_email") < bloated_size
    assert _size(db.dsn, "t_email") < fresh_size
    after = kube.wait(
        db.namespace,
        "t-email",
        lambda s: (s.get("health") or {}).get("bloatPercent", 100) < 40,
        timeout=30,
        what="the estimate after the reindex",
    )
    assert after["phase"] == "Ready"
    # No loop: one successful reindex, however many health passes follow.
    time.sleep(5)
    assert kube.event_reasons(db.namespace, "t-email").count("Reindexed") == 1


def test_a_reindex_killed_by_someone_else_leaves_copies_the_operator_drops(
    db: Target, kube: Kube
) -> None:
    """No spec.maintenance: the copies are dropped anyway, found by PostgreSQL's naming rules
    (a 63-byte name is cut to fit `_ccnew`)."""
    name = "i" * 63
    _table(db, 10_000)
    spec = {
        "connection": connection(),
        "table": "t",
        "name": name,
        "columns": [{"column": "id"}],
        "retry": FAST_RETRY,
    }
    kube.create(db.namespace, "t-id", spec)
    kube.wait(db.namespace, "t-id", is_ready)
    with OpenWrite(db.dsn, "t"):
        reindex = subprocess.Popen(
            ["psql", db.dsn, "-qc", f"REINDEX INDEX CONCURRENTLY {name}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            while not _copies(db.dsn, name[:57]) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert _copies(db.dsn, name[:57]) == ["i" * 57 + "_ccnew"]
            # While that reindex lives, its copy is left alone.
            time.sleep(4)
            assert _copies(db.dsn, name[:57]) == ["i" * 57 + "_ccnew"]
            sql(db.dsn, "SELECT pg_terminate_backend($1)", _backend(db.dsn, "REINDEX"))
        finally:
            reindex.wait(10)
    _wait_event(kube, db.namespace, "t-id", "InvalidIndexDropped", timeout=60)
    assert _copies(db.dsn, name[:57]) == []
    assert is_ready(kube.status(db.namespace, "t-id"))


# -- amcheck on a corrupted index, on a throwaway server ----------------------------------------


def test_verify_finds_a_corrupted_index_and_reindex_repairs_it(
    namespace: str, kube: Kube, operator: Operator, local_env: dict[str, str]
) -> None:
    bindir = Path(local_env.get("PG_BINDIR", str(scratch.DEBIAN_15)))
    with scratch.server(bindir) as (dsn, restart):
        # Every PostgreSQL the project runs on ships amcheck (Debian's contrib, the matrix's
        # packages: docs/compatibility.md): its absence is a failure, not a skip.
        sql(dsn, "CREATE EXTENSION amcheck")
        sql(dsn, "CREATE TABLE t (id int)")
        sql(dsn, "INSERT INTO t SELECT generate_series(1, 100000)")
        kube.secret(namespace, "db", {"dsn": dsn})
        spec = {
            "connection": connection(),
            "table": "t",
            "columns": [{"column": "id"}],
            "maintenance": {"verify": True},
            "retry": FAST_RETRY,
        }
        kube.create(namespace, "t-id", spec)
        passed = kube.wait(
            namespace,
            "t-id",
            lambda s: (s.get("health") or {}).get("verifyResult") == "Passed",
            timeout=60,
            what="a first check that passes",
        )
        assert passed["health"]["verifiedAt"] and passed["phase"] == "Ready"
        first_check = passed["health"]["verifiedAt"]
        path = sql(
            dsn,
            "SELECT current_setting('data_directory') || '/' || pg_relation_filepath('t_id') AS p",
        )[0]["p"]

        def zero_a_leaf_page() -> None:
            with open(path, "r+b") as index_file:  # block 1: the first leaf after the metapage
                index_file.seek(8192)
                index_file.write(b"\0" * 8192)

        restart(zero_a_leaf_page)
        # The next check (DBINDEX_VERIFY_INTERVAL in this suite) finds it; a reindex follows.
        _wait_event(kube, namespace, "t-id", "IndexCorrupt", timeout=90)
        corrupt = _event_messages(kube, namespace, "t-id", "IndexCorrupt")
        assert any("t_id" in m for m in corrupt), corrupt
        repaired = kube.wait(
            namespace,
            "t-id",
            lambda s: (
                (s.get("health") or {}).get("reindexReason") == "IndexCorrupt"
                and (s.get("health") or {}).get("verifyResult") == "Passed"
                and s["health"]["verifiedAt"] != first_check
            ),
            timeout=90,
            what="rebuilt and checked again",
        )
        assert repaired["phase"] == "Ready"
        sql(dsn, "SELECT bt_index_check('t_id'::regclass, true)")  # raises on corruption
        assert sql(dsn, "SELECT count(*) AS n FROM t WHERE id = 5")[0]["n"] == 1
