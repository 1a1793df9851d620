"""A first start on an existing fleet (issue #21): 1,000 DatabaseIndex objects whose indexes
already exist are created while no operator runs; the operator's first start adopts every one,
Ready without a restart, in one status patch per object that already carries the index's health;
only the objects under deletionPolicy Delete carry our finalizer (runtime/holding.py: an adopted
Retain index needs nothing from us when its object goes), until an index dropped by hand is built
again; a restart then writes no status at all. `make bench` (p4) times the
same at 10,000 objects; here nothing is timed. The namespace is deleted with the operator still
running, so every finalizer is released by it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import new_namespace
from tests.e2e.conftest import TEST_SETTINGS, Kube, Operator, connection
from tests.harness import pg
from tests.harness.kube import GROUP, PLURAL, VERSION, Kubectl

TOTAL = 1_000
TABLES = 20
DROPS = {f"i_{j:04d}" for j in range(3, TOTAL, 10)}  # deletionPolicy Delete: 100 of them
FINALIZER = "dbindex.dev/finalizer"


def _plan() -> list[tuple[str, str, str]]:
    """(index, table, column): TABLES tables, one column per index."""
    return [(f"i_{j:04d}", f"t{j % TABLES:02d}", f"c{j // TABLES:02d}") for j in range(TOTAL)]


def _manifest(namespace: str, plan: list[tuple[str, str, str]]) -> str:
    return "---\n".join(
        f"apiVersion: {GROUP}/{VERSION}\nkind: DatabaseIndex\n"
        f"metadata:\n  name: {name.replace('_', '-')}\n  namespace: {namespace}\n"
        f"spec:\n  connection:\n    secretRef:\n      name: {connection()['secretRef']['name']}\n"
        f"  table: {table}\n  name: {name}\n  columns:\n  - column: {column}\n"
        f"  deletionPolicy: {'Delete' if name in DROPS else 'Retain'}\n"
        for name, table, column in plan
    )


def _census(kube: Kube, namespace: str) -> tuple[int, set[str], int]:
    """(Ready objects, the indexes whose objects carry our finalizer, objects with health)."""
    found: Any = kube.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
    items: list[dict[str, Any]] = found["items"]
    ready = sum((o.get("status") or {}).get("phase") == "Ready" for o in items)
    final = {
        o["spec"]["name"] for o in items if FINALIZER in (o["metadata"].get("finalizers") or ())
    }
    healthy = sum("health" in (o.get("status") or {}) for o in items)
    return ready, final, healthy


def _wait_health_pass(operator: Operator, timeout: float = 300) -> None:
    """Until the restarted operator's first health pass has read the catalog, and a little
    more for the writes it may have caused."""
    deadline = time.monotonic() + timeout
    while operator.metric("dbindex_catalog_queries_total", query="health") < 1:
        assert time.monotonic() < deadline, operator.tail()
        time.sleep(0.5)
    time.sleep(3)


def _wait_passes(operator: Operator, passes: int, timeout: float = 300) -> None:
    """Until each database worker has made `passes` more catalog passes (one database here)."""
    target = operator.metric("dbindex_catalog_queries_total", query="state") + passes
    deadline = time.monotonic() + timeout
    while operator.metric("dbindex_catalog_queries_total", query="state") < target:
        assert time.monotonic() < deadline, operator.tail()
        time.sleep(0.5)


@pytest.mark.usefixtures("crd")  # it applies DatabaseIndex objects: run alone, it installs it
def test_first_start_adopts_an_existing_fleet(
    database: str, kubectl: Kubectl, kube: Kube, local_env: dict[str, str], tmp_path: Path
) -> None:
    plan = _plan()
    columns: dict[str, list[str]] = {}
    for _, table, column in plan:
        columns.setdefault(table, []).append(column)
    script = [
        f"CREATE TABLE {t} ({', '.join(f'{c} int' for c in cs)})" for t, cs in columns.items()
    ]
    script += [f"CREATE INDEX {name} ON {table} ({column})" for name, table, column in plan]
    pg.execute(database, ";\n".join(script))

    with new_namespace(kubectl, "fleet-") as namespace:
        kube.secret(namespace, "db", {"dsn": database})
        manifest = tmp_path / "fleet.yaml"
        manifest.write_text(_manifest(namespace, plan))
        kubectl("apply", "--server-side", "-f", str(manifest), timeout=900)
        operator = Operator(
            local_env,
            tmp_path,
            namespaces=[namespace],
            # Health is looked at once per start here: the first status patch of each adopted
            # object must carry it (runtime/watching.first_look), not a later health pass.
            settings={
                **TEST_SETTINGS,
                "DBINDEX_HEALTH_INTERVAL": "3600",
                "DBINDEX_UNUSED_AFTER": "86400",
            },
            log_level="info",
            name="fleet-operator",
        )
        operator.start()
        try:
            deadline = time.monotonic() + 1_800  # generous: the machine may be loaded
            ready, final = 0, set()
            while time.monotonic() < deadline:
                operator.check_alive()
                ready, final, _ = _census(kube, namespace)
                if ready == TOTAL and final == DROPS:
                    break
                time.sleep(3)
            assert ready == TOTAL and final == DROPS, (ready, len(final), operator.tail())
            time.sleep(3)  # any second patch per object would go out within this
            assert _census(kube, namespace)[2] == TOTAL  # each with status.health
            assert operator.starts == 1  # no restart was needed
            assert "never ran its handlers" not in operator.log()  # runtime/lookout.py idle
            # One status patch per object: Ready with its health (issue #15 section 4).
            assert operator.metric("dbindex_status_patches_total") == TOTAL

            operator.restart()
            _wait_health_pass(operator)
            assert operator.metric("dbindex_status_patches_total") == 0, operator.tail()

            # An idle fleet's resync reads the catalog but decides nothing again
            # (runtime/resting.py): once the passes after the health pass are done, more
            # passes leave the decision counter where it was.
            _wait_passes(operator, 2)
            decided = operator.metric("dbindex_decisions_total")
            assert decided >= TOTAL  # the restart's first pass decided every object
            _wait_passes(operator, 3)
            assert operator.metric("dbindex_decisions_total") == decided, operator.tail()
            # ... and still finds drift: an index dropped by hand is built again.
            pg.execute(database, "DROP INDEX i_0007")
            kube.wait(
                namespace,
                "i-0007",
                lambda s: s.get("phase") == "Ready" and s.get("lastDrift") is not None,
                timeout=300,
                what="rebuilt after a drift",
            )
            assert operator.metric("dbindex_decisions_total") < decided + 10
            # The rebuild put our finalizer on first (runtime/executors/base.launch).
            assert _census(kube, namespace)[1] == DROPS | {"i_0007"}

            # A restart's settled objects are decided together soon after they arrive, not at
            # the first resync (runtime/scheduler.Scheduler.add): with a 10-minute resync, all
            # within a minute (a drift found at once), and still nothing written.
            operator.env["DBINDEX_RESYNC_INTERVAL"] = "600"
            operator.restart()
            deadline = time.monotonic() + 60
            while operator.metric("dbindex_decisions_total") < TOTAL:
                assert time.monotonic() < deadline, operator.tail()
                time.sleep(0.5)
            assert operator.metric("dbindex_status_patches_total") == 0, operator.tail()
            kubectl("delete", "namespace", namespace, "--wait=true", "--timeout=900s", timeout=960)
        finally:
            operator.stop()
