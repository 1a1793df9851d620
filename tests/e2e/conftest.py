"""Fixtures for end-to-end tests: the real operator process against the real API server and
PostgreSQL of the local environment (see tests/conftest.py).

``operator`` (session)
    The operator started the way users start it (``dbindex-operator run -A``), with short test
    intervals, logging to a file; ``.restart()``, ``.kill()`` (SIGKILL), ``.log()``,
    ``.metrics()``.
``kube`` (session)
    A small typed helper over the kubernetes client: apply DatabaseIndex objects and Secrets,
    read status and events, wait for a condition.
``db`` (function)
    A fresh database (its DSN) with a Secret ``db`` pointing at it in a fresh namespace.
``big_db`` (function)
    Like ``db`` but the database is a copy of a session-wide template holding a table
    ``big(id bigint, k text)`` of BIG_ROWS rows, for builds that take seconds.
"""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import kubernetes
import pytest

from tests.conftest import REPO_ROOT, with_database

GROUP, VERSION, PLURAL = "dbindex.dev", "v1alpha1", "databaseindexes"
BIG_ROWS = 3_000_000
NAMESPACE_PREFIX = "e2e-"
# Builds on `big` run with these settings to last a few seconds on a 2-core machine.
SLOW_BUILD = {"maintenanceWorkMem": "1MB", "parallelWorkers": 0}

TEST_SETTINGS = {
    "DBINDEX_RESYNC_INTERVAL": "3",
    "DBINDEX_PROGRESS_INTERVAL": "0.5",
    "DBINDEX_STATUS_MIN_INTERVAL": "1",
    "DBINDEX_DELETION_TIMEOUT": "6",
    "DBINDEX_CONNECTION_BACKOFF": "1,2",
    "DBINDEX_CONNECT_TIMEOUT": "3",
    "DBINDEX_CLIENT_CHECK_INTERVAL": "500ms",
}


def sql(dsn: str, query: str, *args: Any) -> list[asyncpg.Record]:
    """Run one query on a fresh connection and return its rows."""

    async def run() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(dsn)
        try:
            rows: list[asyncpg.Record] = await conn.fetch(query, *args)
            return rows
        finally:
            await conn.close()

    return asyncio.run(run())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Operator:
    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.metrics_port = free_port()
        self.env = {
            **env,
            **TEST_SETTINGS,
            "DBINDEX_METRICS_PORT": str(self.metrics_port),
            "DBINDEX_METRICS_ADDRESS": "127.0.0.1",
        }
        self.log_path = log_dir / "operator.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.generation = 0

    def start(self) -> None:
        self.generation += 1
        command = [
            str(Path(sys.executable).parent / "dbindex-operator"),
            "run",
            # Only this suite's namespaces: other suites create DatabaseIndex objects too.
            "--namespace",
            f"{NAMESPACE_PREFIX}*",
            "--log-level",
            "info",
        ]
        log = self.log_path.open("ab")
        log.write(f"\n===== start #{self.generation} =====\n".encode())
        log.flush()
        self.process = subprocess.Popen(
            command, env=self.env, stdout=log, stderr=log, cwd=REPO_ROOT
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                self.metrics()
                return
            except OSError:
                assert self.process.poll() is None, f"operator exited:\n{self.log()[-3000:]}"
                time.sleep(0.2)
        raise AssertionError(f"operator did not start:\n{self.log()[-3000:]}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=2) as response:
            text: str = response.read().decode()
            return text

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of `name` whose labels include `labels`."""
        total = 0.0
        for line in self.metrics().splitlines():
            if not line.startswith(name) or line.startswith("#"):
                continue
            head, _, value = line.rpartition(" ")
            metric_name = head.split("{", 1)[0]
            if metric_name != name:
                continue
            if all(f'{k}="{v}"' in head for k, v in labels.items()):
                total += float(value)
        return total


@pytest.fixture(scope="session")
def operator(
    local_env: dict[str, str], crd: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Operator]:
    handle = Operator(local_env, tmp_path_factory.mktemp("operator"))
    handle.start()
    yield handle
    handle.stop()


@dataclasses.dataclass
class Kube:
    api: kubernetes.client.ApiClient

    @property
    def custom(self) -> kubernetes.client.CustomObjectsApi:
        return kubernetes.client.CustomObjectsApi(self.api)

    @property
    def core(self) -> kubernetes.client.CoreV1Api:
        return kubernetes.client.CoreV1Api(self.api)

    def secret(self, namespace: str, name: str, data: dict[str, str]) -> None:
        body = {"metadata": {"name": name}, "stringData": data}
        try:
            self.core.create_namespaced_secret(namespace, body)
        except kubernetes.client.ApiException as exc:
            if exc.status != 409:
                raise
            self.core.replace_namespaced_secret(name, namespace, body)

    def create(
        self,
        namespace: str,
        name: str,
        spec: dict[str, Any],
        annotations: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "DatabaseIndex",
            "metadata": {"name": name, "annotations": annotations or {}},
            "spec": spec,
        }
        result: dict[str, Any] = self.custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, body
        )
        return result

    def get(self, namespace: str, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self.custom.get_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name
        )
        return result

    def exists(self, namespace: str, name: str) -> bool:
        try:
            self.get(namespace, name)
            return True
        except kubernetes.client.ApiException as exc:
            if exc.status == 404:
                return False
            raise

    def patch(self, namespace: str, name: str, patch: dict[str, Any]) -> None:
        self.custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name, patch)

    def delete(self, namespace: str, name: str) -> None:
        self.custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)

    def status(self, namespace: str, name: str) -> dict[str, Any]:
        status: dict[str, Any] = self.get(namespace, name).get("status") or {}
        return status

    def condition(self, namespace: str, name: str, kind: str) -> dict[str, Any]:
        for condition in self.status(namespace, name).get("conditions") or ():
            if condition["type"] == kind:
                return dict(condition)
        return {}

    def events(self, namespace: str, name: str | None = None) -> list[Any]:
        items = self.core.list_namespaced_event(namespace).items
        return [e for e in items if name is None or e.involved_object.name == name]

    def event_reasons(self, namespace: str, name: str) -> list[str]:
        return [e.reason for e in self.events(namespace, name)]

    def wait(
        self,
        namespace: str,
        name: str,
        predicate: Callable[[dict[str, Any]], bool],
        timeout: float = 60,
        what: str = "condition",
    ) -> dict[str, Any]:
        """Poll the object's status until predicate(status) holds; return that status."""
        deadline = time.monotonic() + timeout
        status: dict[str, Any] = {}
        while time.monotonic() < deadline:
            status = self.status(namespace, name)
            if predicate(status):
                return status
            time.sleep(0.2)
        raise AssertionError(f"{namespace}/{name}: timed out waiting for {what}; last {status}")

    def wait_gone(self, namespace: str, name: str, timeout: float = 60) -> float:
        """Wait until the object no longer exists; return how long that took."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if not self.exists(namespace, name):
                return time.monotonic() - started
            time.sleep(0.2)
        raise AssertionError(f"{namespace}/{name} was not deleted within {timeout}s")

    def wait_phase(
        self, namespace: str, name: str, phase: str, timeout: float = 60
    ) -> dict[str, Any]:
        return self.wait(
            namespace, name, lambda s: s.get("phase") == phase, timeout, what=f"phase {phase}"
        )


@pytest.fixture
def namespace(kubectl: Any) -> Iterator[str]:
    """A fresh namespace the operator under test watches (see NAMESPACE_PREFIX)."""
    name = f"{NAMESPACE_PREFIX}{uuid.uuid4().hex[:10]}"
    kubectl("create", "namespace", name)
    yield name
    kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


@pytest.fixture(scope="session")
def kube(local_env: dict[str, str]) -> Kube:
    api = kubernetes.config.new_client_from_config(config_file=local_env["KUBECONFIG"])
    return Kube(api)


@dataclasses.dataclass
class Target:
    """A database and a namespace whose Secret `db` points at it."""

    namespace: str
    dsn: str


@pytest.fixture
def db(database: str, namespace: str, kube: Kube, operator: Operator) -> Target:
    kube.secret(namespace, "db", {"dsn": database})
    return Target(namespace, database)


@pytest.fixture(scope="session")
def big_template(pg_url: str) -> Iterator[str]:
    name = f"tmpl_big_{uuid.uuid4().hex[:6]}"
    sql(pg_url, f'CREATE DATABASE "{name}"')
    sql(
        with_database(pg_url, name),
        f"CREATE TABLE big AS SELECT g::bigint AS id, md5(g::text) AS k "
        f"FROM generate_series(1, {BIG_ROWS}) g",
    )
    sql(with_database(pg_url, name), "VACUUM ANALYZE big")
    yield name
    sql(pg_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def big_db(
    pg_url: str, big_template: str, namespace: str, kube: Kube, operator: Operator
) -> Iterator[Target]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    sql(pg_url, f'CREATE DATABASE "{name}" TEMPLATE "{big_template}"')
    dsn = with_database(pg_url, name)
    kube.secret(namespace, "db", {"dsn": dsn})
    yield Target(namespace, dsn)
    sql(pg_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def connection(secret: str = "db") -> dict[str, Any]:
    return {"secretRef": {"name": secret}}


def is_ready(status: dict[str, Any]) -> bool:
    return status.get("phase") == "Ready"


def index_facts(dsn: str, name: str, schema: str = "public") -> dict[str, Any] | None:
    rows = sql(
        dsn,
        """
        SELECT x.indisvalid AS valid, x.indisready AS ready, pg_get_indexdef(x.indexrelid) AS def
        FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
        JOIN pg_namespace n ON n.oid = i.relnamespace
        WHERE n.nspname = $1 AND i.relname = $2""",
        schema,
        name,
    )
    return dict(rows[0]) if rows else None


def invalid_indexes(dsn: str) -> list[str]:
    return [
        r["relname"]
        for r in sql(
            dsn,
            """
        SELECT i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
        WHERE NOT x.indisvalid""",
        )
    ]
