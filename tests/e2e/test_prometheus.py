"""The dashboard and the alert rules against a real Prometheus scraping the real operator.

A Prometheus server (Debian's binary, loopback port, scrape and rule interval 1 s) scrapes an
operator started for this test while it builds indexes, fails one (UNIQUE over duplicates),
retries one (its builder terminated) and drops one (deletionPolicy Delete). Then, through
Prometheus' HTTP API:

- every metric the README's metrics table lists has series;
- every metric an alert rule reads has series;
- every dashboard panel's PromQL, with the template variables substituted and evaluated over the
  run as Grafana would (a range query), returns at least one series;
- the namespace template variable offers the test's namespace;
- DBIndexObjectFailed (with `for: 5s` in a test copy of monitoring/alerts.yaml) reaches firing
  for the failed object, its description naming it.
"""

from __future__ import annotations

import functools
import json
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import new_namespace
from tests.e2e.conftest import TEST_SETTINGS, Kube, connection, is_ready, sql
from tests.harness import HarnessError
from tests.harness.kube import Kubectl
from tests.harness.process import Operator
from tests.harness.prometheus import DASHBOARD, Prometheus, alert_rules
from tests.unit.test_monitoring import readme_metrics, rules

PREFIX = "prom-"
RATE_INTERVAL = "30s"  # what Grafana's $__rate_interval would be for a 1 s scrape and a short range
FAST_RETRY = {"maxAttempts": 5, "initialBackoffSeconds": 1, "maxBackoffSeconds": 2}
HISTOGRAMS = {"dbindex_build_duration_seconds"}


def wait_for(what: str, check: Callable[[], Any], timeout: float = 180) -> Any:
    """Poll `check` until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.5)
    raise HarnessError(f"timed out after {timeout}s waiting for {what}")


def panel_queries(namespace: str) -> list[tuple[str, str]]:
    """(panel title, PromQL) of every dashboard target, template variables substituted."""
    dashboard = json.loads(DASHBOARD.read_text())
    found = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", ()):
            expr = target["expr"].replace("$namespace", namespace)
            found.append((panel["title"], expr.replace("$__rate_interval", RATE_INTERVAL)))
    return found


@pytest.fixture
def prom_namespace(kubectl: Kubectl, watched: tuple[Operator, Prometheus]) -> Iterator[str]:
    """A namespace the test's operator watches; its objects are deleted while that operator
    still runs (their finalizer would otherwise keep the namespace Terminating)."""
    with new_namespace(kubectl, PREFIX) as name:
        yield name
        kubectl("delete", "databaseindexes", "--all", "-n", name, "--timeout=120s", timeout=150)


@pytest.fixture
def watched(
    local_env: dict[str, str], crd: str, tmp_path: Path
) -> Iterator[tuple[Operator, Prometheus]]:
    """An operator watching prom-* namespaces, and a Prometheus scraping it every second."""
    operator = Operator(
        local_env,
        tmp_path,
        namespaces=[f"{PREFIX}*"],
        settings=TEST_SETTINGS,
        log_level="info",
        name="operator-prom",
    )
    (tmp_path / "prometheus").mkdir()
    prometheus = Prometheus(
        tmp_path / "prometheus",
        [f"127.0.0.1:{operator.metrics_port}"],
        rules=alert_rules(DBIndexObjectFailed="5s"),
    )
    operator.start()
    try:
        prometheus.start()
        yield operator, prometheus
    finally:
        prometheus.stop()
        operator.stop()


class HeldWriter:
    """A psql session holding ROW EXCLUSIVE on a table in an open transaction: a CREATE INDEX
    CONCURRENTLY on it waits ("waiting for writers before build") until commit()."""

    def __init__(self, env: dict[str, str], dsn: str, table: str) -> None:
        self.process = subprocess.Popen(
            ["psql", dsn, "-q", "-v", "ON_ERROR_STOP=1"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            env=env,
            text=True,
        )
        assert self.process.stdin is not None
        self.process.stdin.write(f"BEGIN;\nLOCK TABLE {table} IN ROW EXCLUSIVE MODE;\n")
        self.process.stdin.flush()
        wait_for(
            "the writer's lock",
            lambda: sql(
                dsn,
                "SELECT 1 FROM pg_locks WHERE relation = $1::regclass "
                "AND mode = 'RowExclusiveLock' AND granted AND pid <> pg_backend_pid()",
                table,
            ),
            timeout=60,
        )

    def commit(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.write("COMMIT;\n")
            self.process.stdin.close()
            self.process.wait(60)


def test_dashboard_and_alerts_on_a_real_prometheus(
    watched: tuple[Operator, Prometheus],
    local_env: dict[str, str],
    kube: Kube,
    database: str,
    prom_namespace: str,
) -> None:
    operator, prometheus = watched
    ns = prom_namespace
    started = time.time() - 5
    kube.secret(ns, "db", {"dsn": database})
    sql(
        database,
        "CREATE TABLE t AS SELECT g AS id, (g % 1000)::text AS email "
        "FROM generate_series(1, 50000) g",
    )
    sql(database, "ANALYZE t")  # the bloat estimate needs the table's statistics

    def series(selector: str) -> list[dict[str, str]]:
        return prometheus.series(selector, start=started)

    # 1. A build waits for a writer (Building, no progress): its progress timestamp appears.
    writer = HeldWriter(local_env, database, "t")
    try:
        kube.create(
            ns,
            "held",
            {
                "connection": connection(),
                "table": "t",
                "columns": [{"column": "id"}],
                "build": {"lockTimeout": "300s"},
                "retry": FAST_RETRY,
            },
        )
        wait_for(
            "the progress timestamp of the waiting build in Prometheus",
            lambda: prometheus.query(
                f'dbindex_build_progress_changed_timestamp_seconds{{namespace="{ns}"}}'
            ),
        )
        assert prometheus.query(f'sum(dbindex_builds_in_progress{{namespace="{ns}"}}) == 1')
        # 2. Its builder dies: a retryable failure (57P01). The writer commits (the INVALID
        # leftover's DROP INDEX CONCURRENTLY waits for it too); the retry builds the index.
        rows = wait_for(
            "the builder", lambda: sql(database, "SELECT pid FROM pg_stat_progress_create_index")
        )
        pid = rows[0]["pid"]
        sql(database, "SELECT pg_terminate_backend($1)", pid)
    finally:
        writer.commit()
    status = kube.wait(ns, "held", is_ready, timeout=180, what="held Ready")
    assert status["attempts"] == 2

    # 3. UNIQUE over duplicates fails for good; another object is built and deleted with its index.
    unique = {"connection": connection(), "table": "t", "columns": [{"column": "email"}]}
    kube.create(ns, "dup", {**unique, "unique": True})
    kube.create(ns, "dropped", {**unique, "deletionPolicy": "Delete"})
    kube.wait_phase(ns, "dup", "Failed", timeout=180)
    kube.wait(ns, "dropped", is_ready, timeout=180, what="dropped Ready")
    kube.delete(ns, "dropped")
    kube.wait_gone(ns, "dropped", timeout=120)

    # 4. The Failed alert fires, naming the object.
    def firing() -> list[dict[str, Any]]:
        return [
            alert
            for alert in prometheus.alerts()
            if alert["labels"].get("alertname") == "DBIndexObjectFailed"
            and alert["labels"].get("namespace") == ns
            and alert["state"] == "firing"
        ]

    (alert,) = wait_for("DBIndexObjectFailed firing", firing)
    assert alert["labels"]["name"] == "dup"
    assert alert["labels"]["reason"] == "BuildFailed"
    assert kube.status(ns, "dup")["lastError"]["sqlstate"] == "23505"
    assert f"{ns}/dup" in alert["annotations"]["description"]
    assert alert["annotations"]["runbook_url"] == "docs/runbook.md#dbindexobjectfailed"

    # Health gauges come with the health pass (DBINDEX_HEALTH_INTERVAL=2 in the test settings).
    for name in ("dbindex_index_size_bytes", "dbindex_index_bloat_ratio", "dbindex_index_unused"):
        selector = f'{name}{{namespace="{ns}"}}'
        wait_for(f"{selector} in Prometheus", functools.partial(series, selector))
    end = time.time()

    # 5. Every metric the README lists has series.
    missing = [
        name
        for name in sorted(readme_metrics())
        if not series(f"{name}_bucket" if name in HISTOGRAMS else name)
    ]
    assert missing == [], f"metrics listed in the README without series: {missing}"

    # 6. Every metric an alert reads has series.
    read = {m for rule in rules() for m in re.findall(r"\b(dbindex_[a-z_]+|up)\b", rule["expr"])}
    assert [m for m in sorted(read) if not series(m)] == []

    # 7. Every dashboard panel shows data over the run.
    empty = [
        f"{title}: {expr}"
        for title, expr in panel_queries(ns)
        if not prometheus.query_range(expr, start=started, end=end)
    ]
    assert empty == [], "dashboard queries without data:\n" + "\n".join(empty)
    namespaces = prometheus.api("label/namespace/values", **{"match[]": "dbindex_object_phase"})
    assert ns in namespaces
    assert operator.process is not None and operator.process.poll() is None
