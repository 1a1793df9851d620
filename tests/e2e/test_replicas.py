"""Two replicas with hot standby, the advisory lock, and shards (issue #16 parts 2 and 3), against
the real API server and PostgreSQL.

Every operator here is a process of its own (not the session's `operator`), serving only its
test's namespace. What happened in PostgreSQL is read from PostgreSQL's side: the test database
logs every DDL statement it starts (`log_statement = ddl`) and the duration of every statement
that completes (`log_min_duration_statement = 0`); tests/e2e/replicas.py counts them per index.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import random
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Kubectl, new_namespace
from tests.e2e.conftest import SLOW_BUILD, TEST_SETTINGS, Kube, Operator, connection, sql
from tests.e2e.replicas import (
    advisory_lock_held,
    builds_in_flight,
    ddl_logged_database,
    index_builds,
    peering_object,
    wait_all_ready,
)

PREFIX = "ha-"  # not the session operator's e2e-*: these objects belong to the test's processes
# How often the leader is killed; more for the failover figures in docs/reliability.md.
KILLS = int(os.environ.get("HA_KILLS", "3"))


@pytest.fixture
def ha_namespace(kubectl: Kubectl, crd: str) -> Iterator[str]:
    with new_namespace(kubectl, PREFIX) as name:
        yield name


def _operator(
    env: dict[str, str], log_dir: Path, namespace: str, name: str, *args: str
) -> Operator:
    return Operator(
        env,
        log_dir,
        namespaces=[namespace],
        settings={**TEST_SETTINGS, "DBINDEX_APPLICATION_NAME": f"dbindex-{name}"},
        log_level="info",
        name=name,
        args=args,
    )


def test_leader_killed_mid_build_three_times(
    local_env: dict[str, str],
    kubectl: Kubectl,
    kube: Kube,
    pg_url: str,
    big_template: str,
    ha_namespace: str,
    tmp_path: Path,
) -> None:
    """Two replicas with peering; the active one is SIGKILLed in the middle of a build, three
    times (HA_KILLS). The standby takes over each time (a killed build is rebuilt, so there is
    always one in flight); in the end every index was built to completion exactly once
    (PostgreSQL's log), none is INVALID, and every object is Ready."""
    rng = random.Random()
    seed = rng.randrange(2**32)
    rng.seed(seed)
    print(f"\nseed {seed}")
    peering = f"ha-{uuid.uuid4().hex[:8]}"
    with (
        peering_object(kubectl, peering),
        ddl_logged_database(local_env, pg_url, template=big_template) as dsn,
    ):
        kube.secret(ha_namespace, "db", {"dsn": dsn})
        replicas = {
            name: _operator(local_env, tmp_path, ha_namespace, name, "--peering", peering)
            for name in ("a", "b")
        }
        replicas["a"].start()
        time.sleep(1.5)  # auto priorities fall per started second: `a` is the older, it leads
        replicas["b"].start()
        suffix = uuid.uuid4().hex[:6]
        columns = [["id"], ["k"], ["id", "k"], ["k", "id"], ["md5k"]]
        sql(dsn, "ALTER TABLE big ADD COLUMN md5k text GENERATED ALWAYS AS (md5(k)) STORED")
        names = [f"ix_{'_'.join(c)}_{suffix}" for c in columns]
        for name, cols in zip(names, columns, strict=True):
            kube.create(
                ha_namespace,
                name.replace("_", "-"),
                {
                    "connection": connection(),
                    "table": "big",
                    "name": name,
                    "columns": [{"column": c} for c in cols],
                    "build": SLOW_BUILD,
                },
            )
        failovers: list[dict[str, float]] = []
        try:
            for _ in range(KILLS):
                leader = _wait_for_a_build(dsn, replicas)
                rss = {name: _rss_mb(replica.pid) for name, replica in replicas.items()}
                time.sleep(rng.uniform(0.5, 2.5))  # somewhere in the middle of the build
                survivor = "b" if leader == "a" else "a"
                killed_at = time.time()
                replicas[leader].kill()
                failovers.append(
                    {**_time_to_act(dsn, survivor, killed_at), "standby_rss_mb": rss[survivor]}
                )
                replicas[leader].start()  # the newest replica: it stands by
            # A rolling update or a drain: SIGTERM, the leader withdraws its keep-alive.
            leader = _wait_for_a_build(dsn, replicas)
            survivor = "b" if leader == "a" else "a"
            stopped_at = time.time()
            replicas[leader].stop()
            failovers.append({"sigterm": 1.0, **_time_to_act(dsn, survivor, stopped_at)})
            wait_all_ready(kube, ha_namespace, [n.replace("_", "-") for n in names], 900)
        finally:
            for replica in replicas.values():
                replica.stop()
        builds = index_builds(local_env, dsn, names)
        invalid = sql(dsn, "SELECT count(*) AS n FROM pg_index WHERE NOT indisvalid")[0]["n"]
        print(json.dumps({"failovers": failovers, "builds": builds, "invalid": invalid}))
        for name in names:
            assert builds[name]["completed"] == 1, (name, builds[name])
            assert builds[name]["already_exists"] == 0, (name, builds[name])
        assert invalid == 0


def _rss_mb(pid: int) -> float:
    """Resident memory of a process (MB), from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def _wait_for_a_build(dsn: str, replicas: dict[str, Operator], timeout: float = 300) -> str:
    """The replica running a CREATE INDEX CONCURRENTLY right now (its application_name)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for replica in replicas.values():
            replica.check_alive()
        running = builds_in_flight(dsn)
        if running:
            return running[0].removeprefix("dbindex-")
        time.sleep(0.1)
    raise AssertionError("no build started")


def _time_to_act(
    dsn: str, survivor: str, killed_at: float, timeout: float = 180
) -> dict[str, float]:
    """Seconds from the SIGKILL until the standby opened its first session on the database
    (it lists the objects, reads the catalog, then drops the leftover and builds) and until it
    started its first CREATE INDEX."""
    deadline = time.monotonic() + timeout
    acted: dict[str, float] = {}
    app = f"dbindex-{survivor}"
    while time.monotonic() < deadline and "build" not in acted:
        rows = sql(
            dsn,
            "SELECT extract(epoch FROM min(backend_start))::float8 AS first,"
            " extract(epoch FROM min(query_start) FILTER"
            "  (WHERE query LIKE 'CREATE INDEX CONCURRENTLY%'))::float8 AS build"
            " FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()"
            " AND backend_start > to_timestamp($2)",
            app,
            killed_at,
        )
        for key in ("first", "build"):
            if rows[0][key] is not None and key not in acted:
                acted[key] = round(rows[0][key] - killed_at, 1)
        time.sleep(0.2)
    assert "first" in acted, f"the standby {survivor} did not act within {timeout}s"
    return acted


def test_advisory_lock_stops_a_build(
    local_env: dict[str, str],
    kube: Kube,
    pg_url: str,
    big_template: str,
    ha_namespace: str,
    tmp_path: Path,
) -> None:
    """Another session holds the index's advisory lock (as a second operator that ignores
    peering would while it builds): the operator runs no DDL, says who holds the lock, and
    builds once the lock is released."""
    with ddl_logged_database(local_env, pg_url, template=big_template) as dsn:
        kube.secret(ha_namespace, "db", {"dsn": dsn})
        name = f"ix_locked_{uuid.uuid4().hex[:6]}"
        operator = _operator(local_env, tmp_path, ha_namespace, "solo", "--standalone")
        operator.start()
        try:
            with advisory_lock_held(dsn, "public", name) as holder:
                kube.create(
                    ha_namespace,
                    "locked",
                    {
                        "connection": connection(),
                        "table": "big",
                        "name": name,
                        "columns": [{"column": "id"}],
                    },
                )
                status = kube.wait(
                    ha_namespace,
                    "locked",
                    lambda s: (
                        s.get("reason") == "Abstained"
                        or any(c.get("reason") == "Abstained" for c in s.get("conditions") or ())
                    ),
                    timeout=120,
                    what="the build abstained",
                )
                assert f"PID {holder}" in json.dumps(status)
                time.sleep(3)  # a few more passes: still nothing may run
                assert index_builds(local_env, dsn, [name])[name]["started"] == 0
                assert not sql(dsn, "SELECT 1 FROM pg_class WHERE relname = $1", name)
            kube.wait_phase(ha_namespace, "locked", "Ready", timeout=300)
        finally:
            operator.stop()
        assert index_builds(local_env, dsn, [name])[name] == {
            "started": 1,
            "completed": 1,
            "already_exists": 0,
        }


def test_two_operators_without_peering_never_build_an_index_twice(
    local_env: dict[str, str],
    kube: Kube,
    pg_url: str,
    ha_namespace: str,
    tmp_path: Path,
) -> None:
    """Two operators started with peering disabled on purpose, both serving the same objects
    from the start: each index is built exactly once and none is left INVALID."""
    with ddl_logged_database(local_env, pg_url) as dsn:
        tables = 6
        sql(dsn, "SELECT 1")
        for t in range(tables):
            sql(
                dsn,
                f"CREATE TABLE t{t} AS SELECT g AS id, md5(g::text) AS k "
                "FROM generate_series(1, 300000) g",
            )
        kube.secret(ha_namespace, "db", {"dsn": dsn})
        suffix = uuid.uuid4().hex[:6]
        names = []
        for t in range(tables):
            for column in ("id", "k"):
                name = f"ix_t{t}_{column}_{suffix}"
                names.append(name)
                kube.create(
                    ha_namespace,
                    name.replace("_", "-"),
                    {
                        "connection": connection(),
                        "table": f"t{t}",
                        "name": name,
                        "columns": [{"column": column}],
                    },
                )
        twins = [
            _operator(local_env, tmp_path, ha_namespace, twin, "--standalone", "--priority", "0")
            for twin in ("twin-a", "twin-b")
        ]
        for twin in twins:
            twin.start(wait=False)
        try:
            for twin in twins:
                twin.wait_metrics()
            wait_all_ready(kube, ha_namespace, [n.replace("_", "-") for n in names], 600)
        finally:
            for twin in twins:
                twin.stop()
        builds = index_builds(local_env, dsn, names)
        abstained = sum(twin.log().count(" not run: ") for twin in twins)
        print(json.dumps({"builds": builds, "abstained": abstained}))
        for name in names:
            assert builds[name]["completed"] == 1, (name, builds[name])
            assert builds[name]["already_exists"] == 0, (name, builds[name])
        assert not sql(dsn, "SELECT 1 FROM pg_index WHERE NOT indisvalid")


def test_two_shards_split_200_objects(
    local_env: dict[str, str],
    kubectl: Kubectl,
    kube: Kube,
    pg_url: str,
    ha_namespace: str,
    tmp_path: Path,
) -> None:
    """Two shards with disjoint label selectors share 200 objects: each object is handled by
    exactly one shard (the other never hears of it: the API server filters), and all are Ready."""
    count = 200
    with ddl_logged_database(local_env, pg_url) as dsn:
        sql(
            dsn,
            "DO $$ BEGIN FOR i IN 0.." + str(count - 1) + " LOOP "
            "EXECUTE format('CREATE TABLE t%s (id int)', i); END LOOP; END $$",
        )
        kube.secret(ha_namespace, "db", {"dsn": dsn})
        items = [
            {
                "apiVersion": "dbindex.dev/v1alpha1",
                "kind": "DatabaseIndex",
                "metadata": {
                    "name": f"s{i}",
                    "namespace": ha_namespace,
                    "labels": {"dbindex.dev/shard": "a" if i % 2 == 0 else "b"},
                },
                "spec": {
                    "connection": connection(),
                    "table": f"t{i}",
                    "columns": [{"column": "id"}],
                },
            }
            for i in range(count)
        ]
        shards = {
            shard: _operator(
                local_env,
                tmp_path,
                ha_namespace,
                f"shard-{shard}",
                "--selector",
                f"dbindex.dev/shard={shard}",
            )
            for shard in ("a", "b")
        }
        for shard in shards.values():
            shard.start()
        try:
            # One POST per object (apply would GET each first); generous: the machine is shared.
            kubectl(
                "create",
                "-f",
                "-",
                input=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}),
                timeout=600,
            )
            wait_all_ready(kube, ha_namespace, [f"s{i}" for i in range(count)], 900)
        finally:
            for shard in shards.values():
                shard.stop()
        logs = {name: shard.log() for name, shard in shards.items()}
        for i in range(count):
            mine = "a" if i % 2 == 0 else "b"
            other = "b" if mine == "a" else "a"
            label = f"{ha_namespace}/s{i}:"
            assert f"{label} building" in logs[mine], f"s{i} not built by shard {mine}"
            assert label not in logs[other], f"shard {other} handled s{i}"
        names = sorted(
            r["relname"]
            for r in sql(
                dsn,
                "SELECT c.relname FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid"
                " WHERE c.relnamespace = 'public'::regnamespace",
            )
        )
        assert names == sorted(f"s{i}" for i in range(count))
        builds = index_builds(local_env, dsn, names)
        print(
            json.dumps(
                {"objects": count, "built_by": {k: v.count(": building") for k, v in logs.items()}}
            )
        )
        assert all(b["completed"] == 1 for b in builds.values()), builds


def test_a_paused_replica_starts_no_ddl(
    local_env: dict[str, str],
    kubectl: Kubectl,
    kube: Kube,
    pg_url: str,
    ha_namespace: str,
    tmp_path: Path,
) -> None:
    """Kopf pauses a replica's watches, not the objects it already knows: a replica that loses
    the lead must not start new DDL on them. A live peer of higher priority appears in the
    peering object while the replica tracks an object waiting for its table; the table appears;
    the replica runs nothing and logs who leads, and builds once that peer is gone."""
    peering = f"ha-{uuid.uuid4().hex[:8]}"
    with (
        peering_object(kubectl, peering),
        ddl_logged_database(local_env, pg_url) as dsn,
    ):
        kube.secret(ha_namespace, "db", {"dsn": dsn})
        name = f"ix_paused_{uuid.uuid4().hex[:6]}"
        replica = _operator(
            local_env, tmp_path, ha_namespace, "paused", "--peering", peering, "--priority", "10"
        )
        replica.start()
        try:
            kube.create(
                ha_namespace,
                "paused",
                {
                    "connection": connection(),
                    "table": "late",
                    "name": name,
                    "columns": [{"column": "id"}],
                },
            )
            kube.wait(
                ha_namespace,
                "paused",
                lambda s: "does not exist" in json.dumps(s),
                timeout=120,
                what="waiting for its table",
            )
            seen = datetime.datetime.now(datetime.UTC).isoformat()
            leader = {"priority": 100, "lifetime": 3600, "lastseen": seen}
            _patch_peers(kubectl, peering, {"other-leader": leader})
            _wait_for_log(replica, "Pausing operations")
            sql(dsn, "CREATE TABLE late (id int)")
            # Said in its log only: the active replica is the one that reports on objects.
            _wait_for_log(replica, "build not run: replica other-leader (priority 100) is active")
            assert index_builds(local_env, dsn, [name])[name]["started"] == 0
            assert not sql(dsn, "SELECT 1 FROM pg_class WHERE relname = $1", name)
            _patch_peers(kubectl, peering, {"other-leader": None})
            kube.wait_phase(ha_namespace, "paused", "Ready", timeout=300)
        finally:
            replica.stop()
        assert index_builds(local_env, dsn, [name])[name]["completed"] == 1


def _patch_peers(kubectl: Kubectl, peering: str, peers: dict[str, object]) -> None:
    """Write (or with None, withdraw) keep-alive records, as other replicas' Kopf would."""
    patch = json.dumps({"status": peers})
    kubectl("patch", "clusterkopfpeering", peering, "--type=merge", "-p", patch)


def _wait_for_log(replica: Operator, text: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while text not in replica.log():
        replica.check_alive()
        assert time.monotonic() < deadline, f"{text!r} not logged:\n{replica.tail()}"
        time.sleep(0.2)


def test_a_new_leader_watches_the_build_in_flight(
    local_env: dict[str, str],
    kubectl: Kubectl,
    kube: Kube,
    pg_url: str,
    ha_namespace: str,
    tmp_path: Path,
) -> None:
    """The leader dies while its build runs on in PostgreSQL (client_connection_check_interval
    off, so the server keeps the orphan going). The new leader finds the build in flight,
    watches it (never drops or repeats it), and adopts its result: one build in all."""
    peering = f"ha-{uuid.uuid4().hex[:8]}"
    with (
        peering_object(kubectl, peering),
        ddl_logged_database(local_env, pg_url) as dsn,
    ):
        sql(dsn, "CREATE TABLE orders AS SELECT g AS id FROM generate_series(1, 100000) g")
        kube.secret(ha_namespace, "db", {"dsn": dsn})
        settings = {"DBINDEX_CLIENT_CHECK_INTERVAL": "0"}
        replicas = {}
        for name in ("a", "b"):
            replicas[name] = _operator(
                local_env, tmp_path, ha_namespace, name, "--peering", peering
            )
            replicas[name].env.update(settings)
            replicas[name].start()
            time.sleep(1.5)  # `a` is the older: it leads
        index = f"ix_inflight_{uuid.uuid4().hex[:6]}"
        try:
            # A writer keeps its transaction open: the build waits for it ("waiting for writers
            # before build") for as long as the test needs, with its INVALID index in place.
            with _open_writer(dsn, "orders"):
                kube.create(
                    ha_namespace,
                    "inflight",
                    {
                        "connection": connection(),
                        "table": "orders",
                        "name": index,
                        "columns": [{"column": "id"}],
                        "build": {"lockTimeout": "10min"},
                    },
                )
                assert _wait_for_a_build(dsn, replicas) == "a"
                replicas["a"].kill()
                status = kube.wait(
                    ha_namespace,
                    "inflight",
                    lambda s: "BuildInProgressElsewhere" in json.dumps(s),
                    timeout=180,
                    what="the new leader watching the build in flight",
                )
                assert index_builds(local_env, dsn, [index])[index]["started"] == 1
                print(json.dumps({"watching": status.get("conditions")}))
            kube.wait_phase(ha_namespace, "inflight", "Ready", timeout=300)
        finally:
            for replica in replicas.values():
                replica.stop()
        assert index_builds(local_env, dsn, [index])[index]["started"] == 1
        assert not sql(dsn, "SELECT 1 FROM pg_index WHERE NOT indisvalid")


@contextlib.contextmanager
def _open_writer(dsn: str, table: str) -> Iterator[None]:
    """A session that wrote to `table` and keeps its transaction open until the block ends."""
    writer = subprocess.Popen(
        ["psql", dsn, "-v", "ON_ERROR_STOP=1"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert writer.stdin is not None
    writer.stdin.write(f"BEGIN;\nINSERT INTO {table} VALUES (0);\n")
    writer.stdin.flush()
    deadline = time.monotonic() + 30
    while not sql(
        dsn,
        "SELECT 1 FROM pg_stat_activity WHERE datname = current_database()"
        " AND state = 'idle in transaction'",
    ):
        assert time.monotonic() < deadline, "the writer did not start"
        time.sleep(0.1)
    try:
        yield
    finally:
        writer.stdin.write("COMMIT;\n")
        writer.stdin.close()
        writer.wait(10)
