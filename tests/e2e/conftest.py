"""Fixtures for end-to-end tests: the real operator process against the real API server and
PostgreSQL of the local environment (see tests/conftest.py; the code behind both is
tests/harness/, shared with bench/).

``operator`` (session)
    The operator started the way users start it (``dbindex-operator run``, watching this suite's
    namespaces), with short test intervals, logging to a file; ``.restart()``, ``.kill()``
    (SIGKILL), ``.log()``, ``.metric()``.
``kube`` (session)
    A small typed helper over the kubernetes client: apply DatabaseIndex objects and Secrets,
    read status and events, wait for a condition.
``namespace`` (function)
    A fresh namespace ``e2e-<random>``, which the ``operator`` watches.
``db`` (function)
    A fresh database (its DSN) with a Secret ``db`` pointing at it in a fresh namespace.
``big_db`` (function)
    Like ``db`` but the database is a copy of a session-wide template holding a table
    ``big(id bigint, k text)`` of BIG_ROWS rows, for builds that take seconds.
"""

from __future__ import annotations

import dataclasses
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.conftest import new_namespace
from tests.harness.kube import GROUP, PLURAL, VERSION, Kube, Kubectl
from tests.harness.pg import query as sql
from tests.harness.pg import with_database
from tests.harness.process import Operator

__all__ = ["GROUP", "PLURAL", "VERSION", "Kube", "Operator", "sql"]

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
    "DBINDEX_HEALTH_INTERVAL": "2",
    "DBINDEX_UNUSED_AFTER": "6",
    "DBINDEX_VERIFY_INTERVAL": "4",
    "DBINDEX_REINDEX_COOLDOWN": "0",
}


@pytest.fixture(scope="session")
def operator(
    local_env: dict[str, str], crd: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Operator]:
    handle = Operator(
        local_env,
        tmp_path_factory.mktemp("operator"),
        # Only this suite's namespaces: other suites create DatabaseIndex objects too.
        namespaces=[f"{NAMESPACE_PREFIX}*"],
        settings=TEST_SETTINGS,
        log_level="info",
    )
    handle.start()
    yield handle
    handle.stop()


@pytest.fixture
def namespace(kubectl: Kubectl) -> Iterator[str]:
    """A fresh namespace the operator under test watches (see NAMESPACE_PREFIX)."""
    with new_namespace(kubectl, NAMESPACE_PREFIX) as name:
        yield name


@pytest.fixture(scope="session")
def kube(local_env: dict[str, str]) -> Kube:
    return Kube(local_env)


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


@contextmanager
def table_locked(
    dsn: str, table: str, mode: str = "ACCESS EXCLUSIVE"
) -> Iterator[subprocess.Popen[bytes]]:
    """Another session holds a `mode` lock on `table` until the block ends, idle in its
    transaction: a READ COMMITTED session that holds no snapshot, so CREATE INDEX CONCURRENTLY
    on other tables does not wait for it (it would for a running query)."""
    holder = subprocess.Popen(
        ["psql", dsn, "-v", "ON_ERROR_STOP=1"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    assert holder.stdin is not None
    holder.stdin.write(f"BEGIN;\nLOCK TABLE {table} IN {mode} MODE;\n".encode())
    holder.stdin.flush()
    lock_name = "".join(word.capitalize() for word in mode.lower().split()) + "Lock"
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            rows = sql(
                dsn,
                "SELECT count(*) AS n FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                "WHERE c.relname = $1 AND l.mode = $2 AND l.granted",
                table,
                lock_name,
            )
            if rows[0]["n"]:
                break
            time.sleep(0.1)
        else:
            raise AssertionError(f"could not lock {table}")
        yield holder
    finally:
        holder.stdin.close()  # psql exits, its transaction ends
        holder.wait(10)
