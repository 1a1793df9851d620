"""Helpers of test_replicas.py: a peering object, a database that logs its DDL, counting builds
per index from PostgreSQL's own log, and a session that holds an index's advisory lock."""

from __future__ import annotations

import contextlib
import re
import subprocess
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from dbindex_operator.core import locks
from tests.conftest import Kubectl
from tests.harness.kube import GROUP, PLURAL, VERSION, Kube
from tests.harness.pg import query as sql
from tests.harness.pg import with_database

PEERING_CRD = "clusterkopfpeerings.kopf.dev"
# The server's log line prefix is '%m [%p] ': time, then the backend's PID.
_LINE = re.compile(r"^\S+ \S+ \S+ \[(?P<pid>\d+)\] (?P<level>[A-Z]+):\s+(?P<text>.*)$")
_CIC = re.compile(
    r"^statement: CREATE (?:UNIQUE )?INDEX CONCURRENTLY (?:IF NOT EXISTS )?\"?(?P<name>[^\"\s]+)"
)
_DONE = re.compile(r"^duration: [\d.]+ ms$")  # a logged statement completed (no text repeated)
_LOG_OFFSETS: dict[str, int] = {}  # dsn -> size of the server log when the database was made


@contextlib.contextmanager
def peering_object(kubectl: Kubectl, name: str) -> Iterator[str]:
    """A ClusterKopfPeering object (its CRD comes from crds/, applied by the `crd` fixture)."""
    kubectl("wait", "--for=condition=Established", "--timeout=60s", f"crd/{PEERING_CRD}")
    kubectl(
        "apply",
        "-f",
        "-",
        input=f"apiVersion: kopf.dev/v1\nkind: ClusterKopfPeering\nmetadata:\n  name: {name}\n",
    )
    try:
        yield name
    finally:
        kubectl("delete", "clusterkopfpeering", name, "--ignore-not-found", check=False)


def server_log(env: Mapping[str, str]) -> Path:
    return Path(env["DBINDEX_LOCAL_DIR"]) / "logs" / "postgres.log"


@contextlib.contextmanager
def ddl_logged_database(
    env: Mapping[str, str], pg_url: str, template: str | None = None
) -> Iterator[str]:
    """A fresh database (a copy of `template`) whose sessions log every DDL statement they start
    and the duration of every statement that completes; yields its DSN. index_builds() reads
    the server's log from this point on."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    sql(pg_url, f'CREATE DATABASE "{name}"{copy}')
    sql(pg_url, f"ALTER DATABASE \"{name}\" SET log_statement = 'ddl'")
    sql(pg_url, f'ALTER DATABASE "{name}" SET log_min_duration_statement = 0')
    dsn = with_database(pg_url, name)
    _LOG_OFFSETS[dsn] = server_log(env).stat().st_size
    try:
        yield dsn
    finally:
        sql(pg_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def index_builds(
    env: Mapping[str, str], dsn: str, names: Sequence[str]
) -> dict[str, dict[str, int]]:
    """Per index name, from the server's log since the database was made: CREATE INDEX CONCURRENTLY
    statements started, completed, and failed because the index already existed (what a
    second operator racing the first would get)."""
    counts = {name: {"started": 0, "completed": 0, "already_exists": 0} for name in names}
    running: dict[str, str] = {}  # backend PID -> index it builds
    with server_log(env).open(errors="replace") as log:
        log.seek(max(_LOG_OFFSETS.get(dsn, 0), 0))
        for line in log:
            match = _LINE.match(line.rstrip("\n"))
            if match is None:
                continue
            pid, level, text = match["pid"], match["level"], match["text"]
            cic = _CIC.match(text) if level == "LOG" else None
            if cic is not None:
                running[pid] = cic["name"]
                if cic["name"] in counts:
                    counts[cic["name"]]["started"] += 1
            elif pid in running and level == "LOG" and _DONE.match(text):
                name = running.pop(pid)
                if name in counts:
                    counts[name]["completed"] += 1
            elif pid in running and level in ("ERROR", "FATAL"):
                name = running.pop(pid)
                if name in counts and "already exists" in text:
                    counts[name]["already_exists"] += 1
    return counts


def builds_in_flight(dsn: str) -> list[str]:
    """application_name of each session running a CREATE INDEX CONCURRENTLY in the database."""
    rows = sql(
        dsn,
        "SELECT application_name FROM pg_stat_activity WHERE datname = current_database()"
        " AND state = 'active' AND query LIKE 'CREATE INDEX CONCURRENTLY%'",
    )
    return [r["application_name"] for r in rows]


@contextlib.contextmanager
def advisory_lock_held(dsn: str, schema: str, name: str) -> Iterator[int]:
    """A psql session holding the advisory lock of index schema.name (core/locks.py), as an
    operator building it would; yields that session's PID."""
    holder = subprocess.Popen(
        ["psql", dsn, "-At", "-v", "ON_ERROR_STOP=1"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert holder.stdin is not None and holder.stdout is not None
    holder.stdin.write(
        f"SELECT pg_backend_pid();\nSELECT pg_advisory_lock({locks.key(schema, name)});\n"
    )
    holder.stdin.flush()
    pid = int(holder.stdout.readline())
    holder.stdout.readline()  # the lock is granted
    try:
        yield pid
    finally:
        holder.stdin.close()  # psql exits, the session ends, the server releases the lock
        holder.wait(10)


def wait_all_ready(kube: Kube, namespace: str, names: Sequence[str], timeout: float) -> None:
    """Poll every DatabaseIndex of the namespace (one LIST) until all of `names` are Ready."""
    deadline = time.monotonic() + timeout
    phases: dict[str, str | None] = {}
    while time.monotonic() < deadline:
        listed: dict[str, Any] = kube.custom.list_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL
        )
        phases = {
            item["metadata"]["name"]: (item.get("status") or {}).get("phase")
            for item in listed["items"]
        }
        if all(phases.get(name) == "Ready" for name in names):
            return
        time.sleep(1)
    waiting = {name: phases.get(name) for name in names if phases.get(name) != "Ready"}
    raise AssertionError(f"not Ready after {timeout}s: {waiting}")
