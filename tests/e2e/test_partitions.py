"""Indexes on partitioned tables end to end: ON ONLY parents, one CREATE INDEX CONCURRENTLY per
leaf, attaches bottom up; progress, per-partition retries, crash safety, adoption of an existing
partition index, deletion, the unique-key rule, and writes that keep flowing."""

from __future__ import annotations

import asyncio
import re
import subprocess
import threading
import time
from typing import Any

import asyncpg
import pytest

from tests.e2e.conftest import (
    SLOW_BUILD,
    Kube,
    Operator,
    Target,
    connection,
    invalid_indexes,
    is_ready,
    sql,
    table_locked,
)

ROWS_PER_PARTITION = 150_000
LEAVES = 5  # events_1, _2, _3, _4a, _4b (_range_table)


def _range_table(dsn: str, rows: int = 2_000) -> None:
    """events: range partitioned by id in 4 partitions, one of them list partitioned in 2."""
    for statement in (
        "CREATE TABLE events (id bigint NOT NULL, k text, region text) PARTITION BY RANGE (id)",
        f"CREATE TABLE events_1 PARTITION OF events FOR VALUES FROM (0) TO ({rows})",
        f"CREATE TABLE events_2 PARTITION OF events FOR VALUES FROM ({rows}) TO ({2 * rows})",
        f"CREATE TABLE events_3 PARTITION OF events FOR VALUES FROM ({2 * rows}) TO ({3 * rows})",
        f"CREATE TABLE events_4 PARTITION OF events FOR VALUES FROM ({3 * rows}) TO ({4 * rows})"
        " PARTITION BY LIST (region)",
        "CREATE TABLE events_4a PARTITION OF events_4 FOR VALUES IN ('a')",
        "CREATE TABLE events_4b PARTITION OF events_4 FOR VALUES IN ('b')",
        f"INSERT INTO events SELECT g, md5(g::text), CASE WHEN g % 2 = 0 THEN 'a' ELSE 'b' END "
        f"FROM generate_series(0, {4 * rows - 1}) g",
        "ANALYZE events",
    ):
        sql(dsn, statement)


def definitions_by_table(dsn: str, parent_index: str) -> dict[str, str]:
    """table -> pg_get_indexdef (index name blanked) of the index in the parent index's tree."""
    rows = sql(
        dsn,
        "SELECT c.relname AS tab, pg_get_indexdef(t.relid) AS def "
        "FROM pg_partition_tree($1::regclass) t JOIN pg_index x ON x.indexrelid = t.relid "
        "JOIN pg_class c ON c.oid = x.indrelid",
        parent_index,
    )
    return {row["tab"]: re.sub(r"INDEX \S+ ON", "INDEX _ ON", row["def"]) for row in rows}


def tree_facts(dsn: str, parent_index: str) -> list[dict[str, Any]]:
    rows = sql(
        dsn,
        "SELECT i.relname, x.indisvalid, t.isleaf, t.parentrelid::oid AS parent "
        "FROM pg_partition_tree($1::regclass) t JOIN pg_index x ON x.indexrelid = t.relid "
        "JOIN pg_class i ON i.oid = t.relid ORDER BY t.level, i.relname",
        parent_index,
    )
    return [dict(row) for row in rows]


def _midway(dsn: str) -> bool:
    """Some leaf's index is attached to events_k, another is being built, not all are done."""
    [row] = sql(
        dsn,
        "SELECT (SELECT count(*) FROM pg_partition_tree(to_regclass('events_k')) t "
        "        WHERE t.isleaf) AS attached, "
        "       (SELECT count(*) FROM pg_stat_progress_create_index "
        "        WHERE datname = current_database()) AS building",
    )
    return 1 <= row["attached"] < LEAVES and row["building"] >= 1


def _spec(**fields: Any) -> dict[str, Any]:
    return {"connection": connection(), "table": "events", "columns": [{"column": "k"}], **fields}


def test_range_and_sub_partitioned_tables_get_the_index_psql_would_build(
    db: Target, kube: Kube
) -> None:
    _range_table(db.dsn)
    kube.create(db.namespace, "events-k", _spec())
    status = kube.wait(db.namespace, "events-k", is_ready, timeout=90)
    assert status["progress"]["partitionsDone"] == status["progress"]["partitionsTotal"] == 5
    facts = tree_facts(db.dsn, "events_k")
    assert len(facts) == 7 and all(f["indisvalid"] for f in facts), facts
    ours = definitions_by_table(db.dsn, "events_k")
    assert invalid_indexes(db.dsn) == []

    # What psql builds from the plain statement on the same tables, partition by partition.
    sql(db.dsn, "DROP INDEX events_k")
    sql(db.dsn, "CREATE INDEX events_k ON events (k)")
    assert definitions_by_table(db.dsn, "events_k") == ours


def test_progress_climbs_partition_by_partition(db: Target, kube: Kube) -> None:
    """partitionsDone climbs leaf by leaf. One leaf (a smallest, built last or beside the others)
    is locked by another session until the status shows a step between 0 and 5, so the climb is
    seen however fast the server builds: on the bundled PostgreSQL majors (initialised with
    locale C) all five leaves sorted within one status interval, and only 5 was ever written."""
    _range_table(db.dsn, ROWS_PER_PARTITION)
    seen: list[int] = []

    def watch(until: Any, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = kube.status(db.namespace, "events-k")
            done = (status.get("progress") or {}).get("partitionsDone")
            if done is not None and (not seen or seen[-1] != done):
                seen.append(done)
            if until(status, done):
                return
            time.sleep(0.2)
        raise AssertionError(f"partitionsDone seen: {seen}")

    with table_locked(db.dsn, "events_4b", "SHARE"):  # conflicts with CIC's lock on the leaf
        kube.create(db.namespace, "events-k", _spec(build=SLOW_BUILD))
        watch(lambda _, done: done is not None and 0 < done < LEAVES)
    watch(lambda status, _: is_ready(status))
    assert seen[-1] == LEAVES, seen
    assert seen == sorted(seen), f"never backwards: {seen}"
    assert any(0 < n < LEAVES for n in seen), f"climbs in steps: {seen}"


def test_a_failed_partition_is_retried_alone(db: Target, kube: Kube, operator: Operator) -> None:
    """An open transaction that wrote to events_3 holds its build in "waiting for writers";
    terminating that build fails events_3 alone: it is retried, the others are kept."""
    _range_table(db.dsn)
    writer = subprocess.Popen(
        ["psql", db.dsn, "-v", "ON_ERROR_STOP=1"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    assert writer.stdin is not None
    # Into the partition itself: a writer on the partitioned table would also hold back the
    # brief SHARE lock of CREATE INDEX ... ON ONLY events (up to lock_timeout).
    writer.stdin.write(b"BEGIN;\nINSERT INTO events_3 VALUES (4001, 'w', 'a');\n")
    writer.stdin.flush()
    try:
        kube.create(db.namespace, "events-k", _spec(retry={"initialBackoffSeconds": 1}))
        victim = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and victim is None:
            rows = sql(
                db.dsn,
                "SELECT g.pid FROM pg_stat_progress_create_index g "
                "WHERE g.relid = 'events_3'::regclass AND g.phase LIKE 'waiting%'",
            )
            victim = rows[0]["pid"] if rows else None
            time.sleep(0.1)
        assert victim is not None, "the build of events_3 never waited for the writer"
        done = {f["relname"]: f for f in tree_facts(db.dsn, "events_k") if f["isleaf"]}
        assert len(done) >= 2, f"the partitions before events_3 are built: {done}"
        oids_before = _oids(db.dsn, list(done))
        sql(db.dsn, "SELECT pg_terminate_backend($1)", victim)
    finally:
        # The writer ends too: dropping the leftover waits for it as well (DROP INDEX
        # CONCURRENTLY waits for every transaction that used the table).
        writer.stdin.close()
        writer.wait(10)
    status = kube.wait(db.namespace, "events-k", is_ready, timeout=90)
    assert status["lastError"]["message"].startswith("partition events_3"), status["lastError"]
    assert _oids(db.dsn, list(oids_before)) == oids_before, "built partitions were kept"
    messages = [e.message for e in kube.events(db.namespace, "events-k") if e.reason == "Retrying"]
    assert len(messages) == 1 and "events_3" in messages[0], messages
    assert all(f["indisvalid"] for f in tree_facts(db.dsn, "events_k"))
    assert invalid_indexes(db.dsn) == []


def _oids(dsn: str, names: list[str]) -> dict[str, int]:
    rows = sql(dsn, "SELECT relname, oid FROM pg_class WHERE relname = ANY($1::text[])", names)
    return {row["relname"]: row["oid"] for row in rows}


def test_sigkill_midway_converges(db: Target, kube: Kube, operator: Operator) -> None:
    _range_table(db.dsn, ROWS_PER_PARTITION)
    kube.create(db.namespace, "events-k", _spec(build=SLOW_BUILD))
    # Midway as the catalog shows it, polled finely: status is written at most once a second
    # and a quiet machine builds a partition faster than that (the status could skip it).
    deadline = time.monotonic() + 180
    while not _midway(db.dsn):
        assert time.monotonic() < deadline, "no partition attached while another was building"
        time.sleep(0.05)
    operator.kill()
    operator.start()
    kube.wait(db.namespace, "events-k", is_ready, timeout=240)
    assert all(f["indisvalid"] for f in tree_facts(db.dsn, "events_k"))
    assert invalid_indexes(db.dsn) == []


def test_an_existing_matching_partition_index_is_attached_not_rebuilt(
    db: Target, kube: Kube
) -> None:
    _range_table(db.dsn)
    sql(db.dsn, "CREATE INDEX events_2_existing ON events_2 (k)")
    oid = sql(db.dsn, "SELECT 'events_2_existing'::regclass::oid AS oid")[0]["oid"]
    kube.create(db.namespace, "events-k", _spec())
    kube.wait(db.namespace, "events-k", is_ready, timeout=90)
    names = {f["relname"] for f in tree_facts(db.dsn, "events_k")}
    assert "events_2_existing" in names
    assert sql(db.dsn, "SELECT 'events_2_existing'::regclass::oid AS oid")[0]["oid"] == oid


@pytest.mark.parametrize("policy", ["Delete", "Retain"])
def test_deletion(db: Target, kube: Kube, policy: str) -> None:
    _range_table(db.dsn)
    kube.create(db.namespace, "events-k", _spec(deletionPolicy=policy))
    kube.wait(db.namespace, "events-k", is_ready, timeout=90)
    kube.delete(db.namespace, "events-k")
    kube.wait_gone(db.namespace, "events-k", timeout=60)
    left = sql(db.dsn, "SELECT count(*) AS n FROM pg_class WHERE relname = 'events_k'")[0]["n"]
    assert left == (1 if policy == "Retain" else 0)
    children = sql(
        db.dsn,
        "SELECT count(*) AS n FROM pg_class "
        "WHERE relkind IN ('i', 'I') AND relname LIKE 'events_k%'",
    )[0]["n"]
    assert children == (7 if policy == "Retain" else 0)


def test_unique_without_the_partition_key_is_refused_before_any_sql(db: Target, kube: Kube) -> None:
    _range_table(db.dsn)
    kube.create(db.namespace, "events-k", _spec(unique=True))
    kube.wait(db.namespace, "events-k", lambda s: s.get("phase") == "Failed")
    degraded = kube.condition(db.namespace, "events-k", "Degraded")
    assert degraded["reason"] == "InvalidSpec" and "partition key" in degraded["message"]
    assert "id" in degraded["message"]
    count = sql(db.dsn, "SELECT count(*) AS n FROM pg_class WHERE relname LIKE 'events_k%'")
    assert count[0]["n"] == 0, "nothing was created"
    # With the keys of every level it builds.
    kube.patch(
        db.namespace,
        "events-k",
        {"spec": {"columns": [{"column": "k"}, {"column": "id"}, {"column": "region"}]}},
    )
    kube.wait(db.namespace, "events-k", is_ready, timeout=90)


class Writer:
    """Inserts into the partitioned table in a loop and records the slowest statement."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.slowest = 0.0
        self.count = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def __enter__(self) -> Writer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(30)

    async def _run(self) -> None:
        conn = await asyncpg.connect(self.dsn)
        try:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    await conn.execute(
                        "INSERT INTO events VALUES ($1, 'w', 'a')", self.count % 1000
                    )
                except asyncpg.PostgresError as exc:
                    self.errors.append(str(exc))
                self.slowest = max(self.slowest, time.monotonic() - started)
                self.count += 1
                await asyncio.sleep(0.01)
        finally:
            await conn.close()


def test_writes_keep_flowing_during_the_whole_build(db: Target, kube: Kube) -> None:
    _range_table(db.dsn, ROWS_PER_PARTITION // 3)
    with Writer(db.dsn) as writer:
        kube.create(db.namespace, "events-k", _spec(build={**SLOW_BUILD, "lockTimeout": "2s"}))
        kube.wait(db.namespace, "events-k", is_ready, timeout=180)
    assert writer.count > 50 and writer.errors == []
    assert writer.slowest < 2.0, f"a write waited {writer.slowest:.2f}s"


def test_replacing_the_definition_of_a_partitioned_index(db: Target, kube: Kube) -> None:
    """A second tree is built under the replacement name, then the names on the partitioned
    table are swapped in one transaction and the old tree dropped: never a moment without it."""
    _range_table(db.dsn)
    kube.create(db.namespace, "events-k", _spec())
    kube.wait(db.namespace, "events-k", is_ready, timeout=90)
    kube.patch(db.namespace, "events-k", {"spec": {"columns": [{"column": "k"}, {"column": "id"}]}})
    kube.wait(
        db.namespace,
        "events-k",
        lambda s: s.get("observedGeneration") == 2 and is_ready(s),
        timeout=120,
        what="Ready with the new definition",
    )
    ours = definitions_by_table(db.dsn, "events_k")
    assert len(ours) == 7 and all(d.endswith("(k, id)") for d in ours.values()), ours
    left = sql(
        db.dsn,
        "SELECT relname FROM pg_class WHERE relname LIKE '%\\_dbinew\\_%' "
        "OR relname LIKE '%\\_dbiold\\_%'",
    )
    assert left == [] and invalid_indexes(db.dsn) == []
    sql(db.dsn, "DROP INDEX events_k")
    sql(db.dsn, "CREATE INDEX events_k ON events (k, id)")
    assert definitions_by_table(db.dsn, "events_k") == ours
