"""What every scenario needs: the environment, the operator under test, fresh namespaces and
databases, waits that survive a missing API server, and the catalog facts a run is judged by."""

from __future__ import annotations

import dataclasses
import os
import random
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.harness import HarnessError, pg, services
from tests.harness.kube import Kube, kubectl
from tests.harness.process import Operator

NAMESPACE_PREFIX = "faults-"
DATABASE_PREFIX = "faults_"
APPLICATION = "dbindex-operator"  # the operator's application_name (core/settings.py)

# Short intervals, as the e2e suite uses (tests/e2e/conftest.py), so recoveries are quick.
OPERATOR_SETTINGS = {
    "DBINDEX_RESYNC_INTERVAL": "3",
    "DBINDEX_PROGRESS_INTERVAL": "0.5",
    "DBINDEX_STATUS_MIN_INTERVAL": "1",
    "DBINDEX_DELETION_TIMEOUT": "6",
    "DBINDEX_CONNECTION_BACKOFF": "1,2",
    "DBINDEX_CONNECT_TIMEOUT": "3",
    "DBINDEX_CLIENT_CHECK_INTERVAL": "500ms",
    "DBINDEX_HEALTH_INTERVAL": "5",
}


def operator_settings(**extra: str) -> dict[str, str]:
    """OPERATOR_SETTINGS, plus PYTHONPATH when FAULTS_OPERATOR_SOURCE names a directory holding
    another `dbindex_operator` package to run instead (e.g. an older commit's, to show what a
    scenario catches)."""
    source = os.environ.get("FAULTS_OPERATOR_SOURCE")
    return {**OPERATOR_SETTINGS, **({"PYTHONPATH": source} if source else {}), **extra}


# A build on `big` that lasts a few seconds on 2 cores: a window to hit it in.
SLOW_BUILD = {"maintenanceWorkMem": "1MB", "parallelWorkers": 0}
FAST_RETRY = {"maxAttempts": 20, "initialBackoffSeconds": 1, "maxBackoffSeconds": 2}


@dataclasses.dataclass
class Run:
    """One repetition of one scenario. ``ok``: the expected end state was reached (Ready, or
    for hostile specs: every one rejected and no SQL). A run that loses anything fails."""

    ok: bool = False
    invalid_left: int = 0
    duplicate_builds: int = 0
    recover_s: float | None = None
    leaks: int = 0
    figures: dict[str, Any] = dataclasses.field(default_factory=dict)
    error: str | None = None

    @property
    def passed(self) -> bool:
        return (
            self.ok
            and self.error is None
            and self.invalid_left == 0
            and self.duplicate_builds == 0
            and self.leaks == 0
        )


class BuildWatch:
    """Samples pg_stat_progress_create_index of the whole server: two CREATE INDEX sessions on
    one table at once means two builds of one index (the operator runs one per table)."""

    def __init__(self, admin: str) -> None:
        self.admin = admin
        self.max_per_table = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="build-watch")

    def __enter__(self) -> BuildWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    @property
    def duplicates(self) -> int:
        return max(0, self.max_per_table - 1)

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            try:
                rows = pg.query(
                    self.admin,
                    "SELECT count(*) AS n FROM pg_stat_progress_create_index "
                    "WHERE command LIKE 'CREATE INDEX%' GROUP BY datid, relid",
                )
            except Exception:  # the server is down on purpose now and then
                continue
            for row in rows:
                self.max_per_table = max(self.max_per_table, int(row["n"]))


@dataclasses.dataclass
class Context:
    env: dict[str, str]
    kube: Kube
    admin: str
    log_dir: Path
    seed: int
    hot_window: float
    pg_down: float
    burst: int
    burst_share: float
    say: Callable[[str], None]
    operator: Operator | None = None
    template: str = ""
    build_seconds: float = 3.0
    random: random.Random = dataclasses.field(default_factory=random.Random)
    postgres: services.Postgres = dataclasses.field(init=False)
    apiserver: services.ApiServer = dataclasses.field(init=False)
    _namespaces: list[str] = dataclasses.field(default_factory=list)
    _databases: list[str] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        self.random.seed(self.seed)
        self.postgres = services.Postgres(self.env)
        self.apiserver = services.ApiServer(self.env)

    # -- things made per run, removed after it ----------------------------------------------

    def namespace(self, prefix: str = NAMESPACE_PREFIX) -> str:
        name = f"{prefix}{uuid.uuid4().hex[:8]}"
        kubectl(self.env, "create", "namespace", name, timeout=180)  # a loaded API server
        self._namespaces.append(name)
        return name

    def database(self, big: bool = False, owner: str | None = None) -> str:
        name = f"{DATABASE_PREFIX}{uuid.uuid4().hex[:10]}"
        clause = f' TEMPLATE "{self.template}"' if big else ""
        clause += f' OWNER "{owner}"' if owner else ""
        pg.execute(self.admin, f'CREATE DATABASE "{name}"{clause}')
        self._databases.append(name)
        return pg.with_database(self.admin, name)

    def target(self, big: bool = False) -> tuple[str, str]:
        """A namespace whose Secret `db` points at a fresh database: (namespace, dsn)."""
        namespace, dsn = self.namespace(), self.database(big=big)
        self.kube.secret(namespace, "db", {"dsn": dsn})
        return namespace, dsn

    def clean(self) -> None:
        """Delete this run's namespaces (the operator releases the objects), then databases.
        Best effort against a loaded API server: a kubectl that times out is asked again."""
        for name in self._namespaces:
            kubectl_patiently(self.env, "delete", "namespace", name, "--wait=false")
        deadline = time.monotonic() + 180
        for name in self._namespaces:
            while time.monotonic() < deadline:
                gone = kubectl_patiently(self.env, "get", "namespace", name)
                if gone is not None and gone.returncode != 0:
                    break
                time.sleep(1)
        for name in self._databases:
            pg.execute(self.admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._namespaces.clear()
        self._databases.clear()

    # -- waits that tolerate a missing API server ---------------------------------------------

    def wait(
        self,
        namespace: str,
        name: str,
        predicate: Callable[[dict[str, Any]], bool],
        timeout: float,
        what: str,
    ) -> tuple[dict[str, Any], float]:
        """Poll until predicate(status); return (status, monotonic time it was seen)."""
        deadline = time.monotonic() + timeout
        status: dict[str, Any] = {}
        while time.monotonic() < deadline:
            try:
                status = self.kube.status(namespace, name)
            except Exception:  # the API server is away on purpose; keep asking
                time.sleep(0.5)
                continue
            if predicate(status):
                return status, time.monotonic()
            time.sleep(0.1)
        raise HarnessError(f"{namespace}/{name}: no {what} after {timeout:.0f}s; last {status}")

    def wait_ready(self, namespace: str, name: str, timeout: float = 240) -> float:
        return self.wait(namespace, name, is_ready, timeout, "Ready")[1]

    def builder_pid(self, dsn: str, timeout: float = 120) -> int:
        """The backend running a CREATE INDEX in this database, once it shows progress."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = pg.query(
                dsn,
                "SELECT pid FROM pg_stat_progress_create_index WHERE datname = current_database()",
            )
            if rows:
                pid: int = rows[0]["pid"]
                return pid
            time.sleep(0.05)
        raise HarnessError("no build was seen")

    def new_operator(self, name: str, **settings: str) -> Operator:
        return Operator(
            self.env,
            self.log_dir,
            namespaces=[f"{NAMESPACE_PREFIX}*"],
            settings=operator_settings(**settings),
            log_level="info",
            name=name,
        )


# -- catalog facts -------------------------------------------------------------------------------


def is_ready(status: dict[str, Any]) -> bool:
    return status.get("phase") == "Ready"


def reason(status: dict[str, Any], kind: str = "Ready") -> str | None:
    for condition in status.get("conditions") or ():
        if condition.get("type") == kind:
            found: str | None = condition.get("reason")
            return found
    return None


def invalid_indexes(dsn: str) -> int:
    rows = pg.query(dsn, "SELECT count(*) AS n FROM pg_index WHERE NOT indisvalid")
    return int(rows[0]["n"])


def indexes_on(dsn: str, table: str) -> int:
    rows = pg.query(dsn, "SELECT count(*) AS n FROM pg_indexes WHERE tablename = $1", table)
    return int(rows[0]["n"])


def big_spec(name: str = "big-k", **extra: Any) -> dict[str, Any]:
    """One slow build on `big`: an expression index, so it is never adopted by accident."""
    return {
        "connection": {"secretRef": {"name": "db"}},
        "table": "big",
        "name": name.replace("-", "_"),
        "columns": [{"expression": "md5(k || id::text)"}],
        "build": SLOW_BUILD,
        "retry": FAST_RETRY,
        **extra,
    }


def kubectl_patiently(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str] | None:
    """kubectl without raising: None when it timed out (the API server is slow, not gone)."""
    try:
        return kubectl(env, *args, check=False, timeout=120)
    except subprocess.TimeoutExpired:
        return None
