"""Failure stories end to end: interrupted builds, bad data, blockers, crashes, bad input."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from tests.e2e.conftest import (
    SLOW_BUILD,
    Kube,
    Operator,
    Target,
    connection,
    index_facts,
    invalid_indexes,
    is_ready,
    sql,
)

FAST_RETRY = {"maxAttempts": 10, "initialBackoffSeconds": 1, "maxBackoffSeconds": 2}


def _reason(status: dict[str, Any], kind: str = "Ready") -> str | None:
    for condition in status.get("conditions", []):
        if condition["type"] == kind:
            reason: str = condition["reason"]
            return reason
    return None


def _builder_pid(dsn: str, timeout: float = 60) -> int:
    """The backend running our CREATE INDEX, once it is past its first lock."""
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


def test_terminated_builder_is_retried(big_db: Target, kube: Kube, operator: Operator) -> None:
    failed_before = operator.metric("dbindex_builds_failed_total", namespace=big_db.namespace)
    kube.create(
        big_db.namespace,
        "big-k",
        {
            "connection": connection(),
            "table": "big",
            "columns": [{"column": "k"}],
            "build": SLOW_BUILD,
            "retry": FAST_RETRY,
        },
    )
    pid = _builder_pid(big_db.dsn)
    sql(big_db.dsn, "SELECT pg_terminate_backend($1)", pid)
    status = kube.wait(big_db.namespace, "big-k", is_ready, timeout=120)
    assert status["attempts"] == 2
    assert status["lastError"]["sqlstate"] == "57P01"
    reasons = kube.event_reasons(big_db.namespace, "big-k")
    assert "Retrying" in reasons
    assert index_facts(big_db.dsn, "big_k")["valid"]  # type: ignore[index]
    assert invalid_indexes(big_db.dsn) == []
    assert (
        operator.metric("dbindex_builds_failed_total", namespace=big_db.namespace)
        == failed_before + 1
    )
    assert operator.metric("dbindex_retries_total", namespace=big_db.namespace) >= 1


def test_unique_over_duplicates_fails_then_heals_on_request(
    db: Target, kube: Kube, operator: Operator
) -> None:
    sql(db.dsn, "CREATE TABLE t (id int, email text)")
    sql(db.dsn, "INSERT INTO t SELECT g, 'u' || (g % 500) FROM generate_series(1, 5000) g")
    kube.create(
        db.namespace,
        "t-email",
        {
            "connection": connection(),
            "table": "t",
            "unique": True,
            "columns": [{"column": "email"}],
            "retry": FAST_RETRY,
        },
    )
    status = kube.wait_phase(db.namespace, "t-email", "Failed")
    assert status["lastError"]["sqlstate"] == "23505"
    assert status["attempts"] == 1, "a permanent error must not be retried"
    degraded = kube.condition(db.namespace, "t-email", "Degraded")
    assert degraded["status"] == "True" and degraded["reason"] == "BuildFailed"
    assert "BuildFailed" in kube.event_reasons(db.namespace, "t-email")
    # The ready-but-invalid UNIQUE leftover is gone: duplicate inserts work again.
    assert index_facts(db.dsn, "t_email") is None
    sql(db.dsn, "INSERT INTO t VALUES (0, 'u1')")
    assert (
        operator.metric("dbindex_builds_failed_total", namespace=db.namespace, sqlstate_class="23")
        == 1
    )
    # No hot loop: still Failed with one attempt a while later.
    time.sleep(4)
    assert kube.status(db.namespace, "t-email")["attempts"] == 1
    # The user fixes the data and asks for a retry.
    sql(db.dsn, "DELETE FROM t a USING t b WHERE a.email = b.email AND a.ctid > b.ctid")
    kube.patch(db.namespace, "t-email", {"metadata": {"annotations": {"dbindex.dev/retry": "1"}}})
    status = kube.wait(db.namespace, "t-email", is_ready)
    assert status["retryToken"] == "1"
    assert index_facts(db.dsn, "t_email")["valid"]  # type: ignore[index]


def test_old_snapshot_blocks_then_lock_timeout_retries(big_db: Target, kube: Kube) -> None:
    blocker_ready = threading.Event()
    release = threading.Event()
    blocker_pid: list[int] = []

    def hold_snapshot() -> None:
        import asyncio

        import asyncpg

        async def run() -> None:
            conn = await asyncpg.connect(big_db.dsn)
            tx = conn.transaction(isolation="repeatable_read")
            await tx.start()
            await conn.fetchval("SELECT 1")  # the snapshot is taken here
            blocker_pid.append(conn.get_server_pid())
            blocker_ready.set()
            while not release.is_set():
                await asyncio.sleep(0.1)
            await tx.commit()
            await conn.close()

        asyncio.run(run())

    thread = threading.Thread(target=hold_snapshot, daemon=True)
    thread.start()
    assert blocker_ready.wait(10)
    try:
        kube.create(
            big_db.namespace,
            "big-id",
            {
                "connection": connection(),
                "table": "big",
                "columns": [{"column": "id"}],
                "build": {"lockTimeout": "3s"},
                "retry": FAST_RETRY,
            },
        )
        waiting = kube.wait(
            big_db.namespace,
            "big-id",
            lambda s: (
                s.get("phase") == "Building"
                and (s.get("progress") or {}).get("phase", "").startswith("waiting")
                and blocker_pid[0] in (s.get("progress") or {}).get("blockingPids", [])
            ),
            timeout=60,
            what="a waiting phase naming the blocker",
        )
        assert waiting["progress"]["phase"] == "waiting for old snapshots"
        assert str(blocker_pid[0]) in _message(waiting)
        retrying = kube.wait(
            big_db.namespace,
            "big-id",
            lambda s: (s.get("lastError") or {}).get("sqlstate") == "55P03",
            timeout=60,
            what="a lock timeout",
        )
        assert retrying["attempts"] >= 1
    finally:
        release.set()
        thread.join(10)
    status = kube.wait(big_db.namespace, "big-id", is_ready, timeout=60)
    assert status["attempts"] >= 2
    assert invalid_indexes(big_db.dsn) == []


def _message(status: dict[str, Any]) -> str:
    return " ".join(c.get("message", "") for c in status.get("conditions", []))


def test_sigkill_during_build_converges(big_db: Target, kube: Kube, operator: Operator) -> None:
    kube.create(
        big_db.namespace,
        "big-k",
        {
            "connection": connection(),
            "table": "big",
            "columns": [{"expression": "md5(k || id::text)"}],
            "build": SLOW_BUILD,
            "retry": FAST_RETRY,
        },
    )
    _builder_pid(big_db.dsn)
    operator.kill()
    try:
        time.sleep(1)
    finally:
        operator.start()
    status = kube.wait(big_db.namespace, "big-k", is_ready, timeout=180)
    assert status["index"]["valid"]
    assert invalid_indexes(big_db.dsn) == []
    rows = sql(big_db.dsn, "SELECT count(*) AS n FROM pg_indexes WHERE tablename = 'big'")
    assert rows[0]["n"] == 1, "exactly one index: no duplicate builds"


def test_missing_secret_then_created(
    namespace: str, database: str, kube: Kube, operator: Operator
) -> None:
    sql(database, "CREATE TABLE t (id int)")
    kube.create(
        namespace,
        "t-id",
        {"connection": connection("later"), "table": "t", "columns": [{"column": "id"}]},
    )
    status = kube.wait(namespace, "t-id", lambda s: _reason(s) == "SecretNotFound")
    assert kube.condition(namespace, "t-id", "Ready")["status"] == "False"
    assert status["phase"] == "Waiting"
    kube.secret(namespace, "later", {"dsn": database})
    kube.wait(namespace, "t-id", is_ready, timeout=30)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        pytest.param({"other": "x"}, "SecretKeyMissing", id="no-dsn-no-host"),
        pytest.param({"dsn": "host=127.0.0.1 dbname=x"}, "InvalidDSN", id="not-a-uri"),
        pytest.param(
            {"dsn": "postgresql://postgres@127.0.0.1:1/x"}, "ConnectionFailed", id="unreachable"
        ),
    ],
)
def test_bad_connection_secrets(
    namespace: str, kube: Kube, operator: Operator, data: dict[str, str], reason: str
) -> None:
    kube.secret(namespace, "db", data)
    kube.create(
        namespace, "x", {"connection": connection(), "table": "t", "columns": [{"column": "id"}]}
    )
    kube.wait(namespace, "x", lambda s: _reason(s) == reason, what=reason)


def test_discrete_secret_keys_and_rotation(
    namespace: str, database: str, kube: Kube, operator: Operator, pg_url: str
) -> None:
    from urllib.parse import urlsplit

    url = urlsplit(database)
    sql(database, "CREATE TABLE t (id int)")
    kube.secret(
        namespace,
        "db",
        {"host": "127.0.0.1", "port": "1", "user": "postgres", "dbname": url.path[1:]},
    )
    kube.create(
        namespace, "t-id", {"connection": connection(), "table": "t", "columns": [{"column": "id"}]}
    )
    kube.wait(namespace, "t-id", lambda s: _reason(s) == "ConnectionFailed")
    # Rotate the Secret to the right port: picked up on the next pass, no restart.
    kube.secret(
        namespace,
        "db",
        {"host": "127.0.0.1", "port": str(url.port), "user": "postgres", "dbname": url.path[1:]},
    )
    kube.wait(namespace, "t-id", is_ready, timeout=30)


INJECTIONS = [
    ("where", "id > 0; DROP TABLE canary"),
    ("where", "id > 0); DROP TABLE canary; --"),
    ("where", "id > 0 -- comment"),
    ("where", "id > 0 /* c */"),
    ("where", "id IN (SELECT id FROM canary)"),
    ("where", "EXISTS (SELECT 1)"),
    ("where", "true) WITH (fillfactor=10"),
    ("where", "id > 0) TABLESPACE pg_global WHERE (true"),
    ("where", "1=1 UNION SELECT 1"),
    ("where", "(SELECT pg_sleep(10)) IS NULL"),
    ("where", ""),
    ("where", "'unterminated"),
    ("expression", "lower(email)); DROP TABLE canary; --"),
    ("expression", "lower(email)) , (id"),
    ("expression", "(SELECT max(id) FROM canary)"),
    ("expression", "id, email"),
    ("expression", "id; DELETE FROM canary"),
    ("expression", "id -- "),
    ("expression", "$$x$$ || (SELECT 1)"),
    ("expression", "ARRAY(SELECT 1)"),
    ("table", 't"; DROP TABLE canary; --'),
    ("table", "t; DROP TABLE canary"),
    ("name", 'x"; DROP TABLE canary; --'),
    ("schema", 'public"; DROP TABLE canary; --'),
    ("include", 'id"); DROP TABLE canary; --'),
    ("opclass", "text_ops; DROP TABLE canary"),
    ("collation", 'C"; DROP TABLE canary; --'),
    ("tablespace", "pg_default; DROP TABLE canary"),
]


def _injected(field: str, value: str) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "connection": connection(),
        "table": "t",
        "columns": [{"column": "email"}],
    }
    if field == "expression":
        spec["columns"] = [{"expression": value}]
    elif field in ("opclass", "collation"):
        spec["columns"] = [{"column": "email", field: value}]
    elif field == "include":
        spec["include"] = [value]
    else:
        spec[field] = value
    return spec


def _catalog_snapshot(dsn: str) -> list[tuple[Any, ...]]:
    rows = sql(
        dsn,
        """SELECT c.relname, c.relkind, c.relfilenode FROM pg_class c
                       JOIN pg_namespace n ON n.oid = c.relnamespace
                       WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
                       ORDER BY 1""",
    )
    return [tuple(r) for r in rows]


def test_injection_attempts_are_invalid_spec_and_touch_nothing(
    db: Target, kube: Kube, operator: Operator
) -> None:
    sql(db.dsn, "CREATE TABLE t (id int, email text)")
    sql(db.dsn, "CREATE TABLE canary (id int)")
    sql(db.dsn, "INSERT INTO canary SELECT generate_series(1, 10)")
    before = _catalog_snapshot(db.dsn)
    created = []
    for i, (field, value) in enumerate(INJECTIONS):
        name = f"inj-{i}"
        try:
            kube.create(db.namespace, name, _injected(field, value))
        except Exception as exc:  # the API server's own validation is also a rejection
            assert "Invalid" in str(exc) or "422" in str(exc), exc
            continue
        created.append(name)
    assert len(created) >= 20, "most cases must reach the operator"
    for name in created:
        kube.wait(
            db.namespace,
            name,
            lambda s: s.get("phase") == "Failed" and _reason(s, "Degraded") == "InvalidSpec",
            timeout=30,
            what="InvalidSpec",
        )
    time.sleep(2)
    assert _catalog_snapshot(db.dsn) == before
    assert sql(db.dsn, "SELECT count(*) AS n FROM canary")[0]["n"] == 10
    activity = sql(
        db.dsn,
        "SELECT count(*) AS n FROM pg_stat_activity WHERE "
        "datname = current_database() AND application_name = "
        "'dbindex-operator'",
    )
    assert activity[0]["n"] == 0, "no session was ever needed for an invalid spec"
