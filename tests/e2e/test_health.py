"""Index health in status end to end (DBINDEX_HEALTH_INTERVAL is 2 s and DBINDEX_UNUSED_AFTER
6 s in this suite): scans, size, the bloat estimate, the Unused condition, one query per
database per interval, and the gauges."""

from __future__ import annotations

import subprocess
import time
from typing import Any

from tests.e2e.conftest import Kube, Operator, Target, connection, is_ready, sql


def _health(kube: Kube, db: Target, name: str, check: Any, what: str) -> dict[str, Any]:
    status = kube.wait(
        db.namespace, name, lambda s: check(s.get("health") or {}), timeout=30, what=what
    )
    health: dict[str, Any] = status["health"]
    return health


def _use_index(db: Target) -> None:
    """A query forced onto the index."""
    subprocess.run(
        ["psql", db.dsn, "-qc", "SET enable_seqscan = off; SELECT * FROM t WHERE email = 'x'"],
        check=True,
        capture_output=True,
    )


def _table(db: Target, rows: int = 50_000) -> None:
    sql(db.dsn, "CREATE TABLE t (id int, email text)")
    sql(
        db.dsn,
        f"INSERT INTO t SELECT g, 'user' || g || '@example.com' FROM generate_series(1, {rows}) g",
    )
    sql(db.dsn, "ANALYZE t")


def _create(db: Target, kube: Kube, name: str = "t-email", column: str = "email") -> None:
    spec = {"connection": connection(), "table": "t", "columns": [{"column": column}]}
    kube.create(db.namespace, name, spec)
    kube.wait(db.namespace, name, is_ready)


def test_scans_and_size(db: Target, kube: Kube, operator: Operator) -> None:
    _table(db)
    _create(db, kube)
    first = _health(kube, db, "t-email", lambda h: "scans" in h, "a health pass")
    size = sql(db.dsn, "SELECT pg_relation_size('t_email') AS n")[0]["n"]
    assert first["sizeBytes"] == size
    assert first["scansSince"] and first["checkedAt"]
    for _ in range(3):
        _use_index(db)
    later = _health(kube, db, "t-email", lambda h: h.get("scans", 0) > first["scans"], "more scans")
    assert later["scans"] >= first["scans"] + 1
    sizes = [
        line
        for line in operator.metrics().splitlines()
        if line.startswith("dbindex_index_size_bytes{")
    ]
    gauge = [s for s in sizes if f'namespace="{db.namespace}"' in s and 'name="t-email"' in s]
    assert len(gauge) == 1 and float(gauge[0].rsplit(" ", 1)[1]) == size, sizes


def test_bloat_rises_after_a_bulk_delete_and_falls_after_reindex(db: Target, kube: Kube) -> None:
    _table(db, 200_000)
    _create(db, kube)
    fresh = _health(kube, db, "t-email", lambda h: "bloatPercent" in h, "a bloat estimate")
    assert fresh["bloatPercent"] < 25, fresh
    sql(db.dsn, "DELETE FROM t WHERE id % 10 <> 0")
    sql(db.dsn, "VACUUM ANALYZE t")
    bloated = _health(
        kube, db, "t-email", lambda h: h.get("bloatPercent", 0) > 50, "the estimate after a delete"
    )
    sql(db.dsn, "REINDEX INDEX CONCURRENTLY t_email")
    sql(db.dsn, "ANALYZE t")
    _health(
        kube,
        db,
        "t-email",
        lambda h: h.get("bloatPercent", 100) < bloated["bloatPercent"] - 30,
        "the estimate after REINDEX",
    )


def test_unused_appears_and_goes(db: Target, kube: Kube) -> None:
    _table(db, 1_000)
    _create(db, kube)
    kube.wait(
        db.namespace,
        "t-email",
        lambda s: any(c["type"] == "Unused" and c["status"] == "True" for c in s["conditions"]),
        timeout=30,
        what="Unused",
    )
    status = kube.status(db.namespace, "t-email")
    assert status["phase"] == "Ready" and is_ready(status), "Unused is informational"
    assert kube.condition(db.namespace, "t-email", "Degraded")["status"] == "False"
    _use_index(db)
    kube.wait(
        db.namespace,
        "t-email",
        lambda s: any(c["type"] == "Unused" and c["status"] == "False" for c in s["conditions"]),
        timeout=30,
        what="used again",
    )


def test_one_health_query_per_database_per_interval(
    db: Target, kube: Kube, operator: Operator
) -> None:
    _table(db, 1_000)
    for i in range(6):
        sql(db.dsn, f"CREATE INDEX t_id_{i} ON t ((id + {i}))")
        spec = {"connection": connection(), "table": "t", "columns": [{"expression": f"id + {i}"}]}
        kube.create(db.namespace, f"t-id-{i}", spec)
    for i in range(6):
        kube.wait(db.namespace, f"t-id-{i}", is_ready)
    before = operator.metric("dbindex_catalog_queries_total", query="health")
    time.sleep(8)
    queries = operator.metric("dbindex_catalog_queries_total", query="health") - before
    # One query per database every 2 s: about 4 here; per object it would be 24 or more. The
    # bound leaves room for a database of another test still winding down.
    assert 2 <= queries <= 10, queries
