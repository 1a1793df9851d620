"""Version-dependent behaviour on the server the suite runs against (`make matrix` runs this file
on PostgreSQL 14 to 18 and Kubernetes 1.34 to 1.37; core/compat.py lists the facts). Each test
that needs a particular major runs on the suite's server when it is one, else on a throwaway
server of that major (`_server_where`): none is skipped."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

from dbindex_operator.core import catalog, compat
from tests.e2e.conftest import (
    SLOW_BUILD,
    Kube,
    Operator,
    Target,
    connection,
    index_facts,
    is_ready,
    sql,
)
from tests.harness import pg, scratch


def server_version(dsn: str) -> int:
    rows = sql(dsn, "SELECT current_setting('server_version_num')::int AS v")
    version: int = rows[0]["v"]
    return version


@contextlib.contextmanager
def _server_where(db: Target, kube: Kube, fits: Callable[[int], bool], major: int) -> Iterator[str]:
    """The DSN of a server whose version `fits`: the suite's own when it does (as `make matrix`
    runs this file on every major), else a throwaway PostgreSQL `major` (installed once per
    machine, like the matrix's), which the object's Secret is pointed at. So every
    version-dependent behaviour runs in every `make test`, whatever the default server."""
    if fits(server_version(db.dsn)):
        yield db.dsn
        return
    with scratch.server(scratch.bindir(major)) as (dsn, _):
        assert fits(server_version(dsn)), f"PostgreSQL {major} does not fit"
        kube.secret(db.namespace, "db", {"dsn": dsn})
        yield dsn


def _condition(status: dict[str, Any], kind: str = "Ready") -> dict[str, Any]:
    return next((c for c in status.get("conditions", []) if c["type"] == kind), {})


NND_SPEC = {
    "connection": connection(),
    "table": "t",
    "columns": [{"column": "a"}, {"column": "b"}],
    "unique": True,
    "nullsNotDistinct": True,
}


def test_nulls_not_distinct_is_refused_before_15(db: Target, kube: Kube) -> None:
    with _server_where(db, kube, lambda v: v < compat.NULLS_NOT_DISTINCT, 14) as dsn:
        sql(dsn, "CREATE TABLE t (a int, b int)")
        kube.create(db.namespace, "t-nnd", NND_SPEC)
        status = kube.wait_phase(db.namespace, "t-nnd", "Failed", timeout=120)
        ready = _condition(status)
        assert ready.get("reason") == compat.REASON, status
        assert "NULLS NOT DISTINCT" in ready["message"] and "PostgreSQL 15" in ready["message"]
        assert compat.describe(server_version(dsn)) in ready["message"]
        assert index_facts(dsn, "t_nnd") is None, "nothing was run"
        kube.delete(db.namespace, "t-nnd")
        kube.wait_gone(db.namespace, "t-nnd")


def test_nulls_not_distinct_is_built_from_15(db: Target, kube: Kube) -> None:
    with _server_where(db, kube, lambda v: v >= compat.NULLS_NOT_DISTINCT, 15) as dsn:
        sql(dsn, "CREATE TABLE t (a int, b int)")
        kube.create(db.namespace, "t-nnd", NND_SPEC)
        kube.wait(db.namespace, "t-nnd", is_ready, timeout=120, what="Ready")
        facts = index_facts(dsn, "t_nnd")
        assert facts is not None and facts["valid"] and "NULLS NOT DISTINCT" in facts["def"]


def test_plain_index_is_ready_and_adopted_on_every_major(db: Target, kube: Kube) -> None:
    """The catalog SQL (signature, state, health) runs on this major: build, then adopt."""
    sql(db.dsn, "CREATE TABLE t (a int, b int)")
    sql(db.dsn, "CREATE UNIQUE INDEX t_ab_manual ON t (a, b)")
    spec = {"connection": connection(), "table": "t", "columns": [{"column": "a"}]}
    kube.create(db.namespace, "t-a", spec)
    kube.create(
        db.namespace,
        "t-ab-manual",
        {**spec, "columns": [{"column": "a"}, {"column": "b"}], "unique": True},
    )
    kube.wait(db.namespace, "t-a", is_ready, timeout=120, what="Ready")
    kube.wait(db.namespace, "t-ab-manual", is_ready, timeout=120, what="Ready (adopted)")
    assert kube.condition(db.namespace, "t-ab-manual", "Ready")["reason"] == "Adopted"


def test_progress_columns_exist(db: Target) -> None:
    """Every column the operator reads from pg_stat_progress_create_index exists here."""
    rows = sql(db.dsn, catalog.PROGRESS, [0])
    assert len(rows) == 1 and rows[0]["backend"] == 0 and rows[0]["phase"] is None


def test_orphaned_build_is_aborted_by_the_server(
    big_db: Target, kube: Kube, operator: Operator
) -> None:
    """client_connection_check_interval (14+): a build whose operator was SIGKILLed stops at
    once and leaves an INVALID index, rather than running on (it would end valid)."""
    kube.create(
        big_db.namespace,
        "big-orphan",
        {
            "connection": connection(),
            "table": "big",
            "columns": [{"expression": "md5(k || id::text)"}],
            "build": SLOW_BUILD,
        },
    )
    pid = _building(big_db.dsn)
    operator.kill()
    try:
        _gone(big_db.dsn, pid)
        facts = index_facts(big_db.dsn, "big_orphan")
        assert facts is not None and not facts["valid"], facts
    finally:
        operator.start()
    kube.wait(big_db.namespace, "big-orphan", is_ready, timeout=300, what="Ready after restart")


def test_last_idx_scan_dates_the_last_scan_from_16(db: Target, kube: Kube) -> None:
    with _server_where(db, kube, lambda v: v >= compat.LAST_IDX_SCAN, 16) as dsn:
        sql(dsn, "CREATE TABLE t (id int, email text)")
        sql(dsn, "INSERT INTO t SELECT g, 'u' || g FROM generate_series(1, 20000) g")
        sql(dsn, "ANALYZE t")
        kube.create(
            db.namespace,
            "t-email",
            {"connection": connection(), "table": "t", "columns": [{"column": "email"}]},
        )
        kube.wait(db.namespace, "t-email", is_ready, timeout=120, what="Ready")
        pg.execute(dsn, "SET enable_seqscan = off; SELECT * FROM t WHERE email = 'x'")
        last = _last_scan(dsn)
        # A status with the scan counted: an earlier health pass in the same second as the scan
        # also shows scansUnchangedSince == last (both in whole seconds), with no scan yet (the
        # 17 and 18 matrix runs caught one).
        kube.wait(
            db.namespace,
            "t-email",
            lambda s: (
                (s.get("health") or {}).get("scansUnchangedSince") == last
                and (s.get("health") or {}).get("scans", 0) >= 1
            ),
            timeout=60,
            what=f"scansUnchangedSince = last_idx_scan ({last}) with the scan counted",
        )
        kube.delete(db.namespace, "t-email")
        kube.wait_gone(db.namespace, "t-email")


def _last_scan(dsn: str, timeout: float = 60) -> str:
    """last_idx_scan of t_email as status prints times, once the server has flushed it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = sql(
            dsn,
            "SELECT to_char(last_idx_scan AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
            " AS t FROM pg_stat_all_indexes WHERE indexrelname = 't_email'",
        )
        if rows and rows[0]["t"]:
            found: str = rows[0]["t"]
            return found
        time.sleep(0.2)
    raise AssertionError("last_idx_scan stayed empty")


def _building(dsn: str, timeout: float = 120) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = sql(
            dsn,
            "SELECT pid FROM pg_stat_progress_create_index "
            "WHERE datname = current_database() AND phase LIKE 'building%'",
        )
        if rows:
            pid: int = rows[0]["pid"]
            return pid
        time.sleep(0.05)
    raise AssertionError("no build was seen")


def _gone(dsn: str, pid: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not sql(dsn, "SELECT 1 FROM pg_stat_activity WHERE pid = $1", pid):
            return
        time.sleep(0.1)
    raise AssertionError(f"the orphaned builder {pid} still runs")
