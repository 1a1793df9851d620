"""Changes and deletion end to end: generations, finalizers, deletion policies."""

from __future__ import annotations

import time
from typing import Any

from tests.conftest import Kubectl
from tests.e2e.conftest import (
    SLOW_BUILD,
    Kube,
    Target,
    connection,
    index_facts,
    invalid_indexes,
    is_ready,
    sql,
)


def _simple(db: Target, kube: Kube, name: str, policy: str = "Retain") -> None:
    sql(db.dsn, "CREATE TABLE IF NOT EXISTS t (id int, email text)")
    kube.create(
        db.namespace,
        name,
        {
            "connection": connection(),
            "table": "t",
            "columns": [{"column": "email"}],
            "deletionPolicy": policy,
        },
    )
    kube.wait(db.namespace, name, is_ready)


def test_finalizer_is_ours(db: Target, kube: Kube) -> None:
    _simple(db, kube, "t-email")
    meta = kube.get(db.namespace, "t-email")["metadata"]
    assert meta["finalizers"] == ["dbindex.dev/finalizer"]


def _adopted(db: Target, kube: Kube, policy: str) -> dict[str, Any]:
    """An index that exists already, declared under `policy`; its object once Ready."""
    sql(db.dsn, "CREATE TABLE IF NOT EXISTS t (id int, email text)")
    sql(db.dsn, "CREATE INDEX t_email ON t (email)")
    _simple(db, kube, "t-email", policy)
    return kube.get(db.namespace, "t-email")


def test_an_adopted_retain_index_needs_no_finalizer(db: Target, kube: Kube) -> None:
    """Nothing for us to do when its object goes: no finalizer was written (runtime/holding.py),
    so the deletion does not wait for the operator at all."""
    found = _adopted(db, kube, "Retain")
    assert not found["metadata"].get("finalizers")
    time.sleep(2)  # no late finalizer patch either
    assert not kube.get(db.namespace, "t-email")["metadata"].get("finalizers")
    kube.delete(db.namespace, "t-email")
    kube.wait_gone(db.namespace, "t-email", timeout=10)
    assert "FinalizerReleased" not in kube.event_reasons(db.namespace, "t-email")
    facts = index_facts(db.dsn, "t_email")
    assert facts is not None and facts["valid"]


def test_an_adopted_delete_index_is_held_and_dropped(db: Target, kube: Kube) -> None:
    found = _adopted(db, kube, "Delete")
    assert found["metadata"].get("finalizers") == ["dbindex.dev/finalizer"]
    kube.delete(db.namespace, "t-email")
    kube.wait_gone(db.namespace, "t-email")
    assert index_facts(db.dsn, "t_email") is None


def test_delete_with_retain_keeps_the_index(db: Target, kube: Kube) -> None:
    _simple(db, kube, "t-email", "Retain")
    kube.delete(db.namespace, "t-email")
    kube.wait_gone(db.namespace, "t-email")
    facts = index_facts(db.dsn, "t_email")
    assert facts is not None and facts["valid"]


def test_delete_with_delete_drops_the_index(db: Target, kube: Kube) -> None:
    _simple(db, kube, "t-email", "Delete")
    kube.delete(db.namespace, "t-email")
    kube.wait_gone(db.namespace, "t-email")
    assert index_facts(db.dsn, "t_email") is None


def test_delete_while_building_cancels_the_build(big_db: Target, kube: Kube) -> None:
    kube.create(
        big_db.namespace,
        "big-k",
        {
            "connection": connection(),
            "table": "big",
            "columns": [{"expression": "md5(k || id::text)"}],
            "build": SLOW_BUILD,
        },
    )
    kube.wait(
        big_db.namespace,
        "big-k",
        lambda s: (
            s.get("phase") == "Building"
            and "building" in (s.get("progress") or {}).get("phase", "")
        ),
        what="a running build",
    )
    # Our finalizer went on before the CREATE INDEX CONCURRENTLY started (executors/base.py).
    assert kube.get(big_db.namespace, "big-k")["metadata"]["finalizers"] == [
        "dbindex.dev/finalizer"
    ]
    kube.delete(big_db.namespace, "big-k")
    took = kube.wait_gone(big_db.namespace, "big-k", timeout=30)
    assert took < 20, f"deletion took {took:.1f}s"
    rows = sql(
        big_db.dsn,
        "SELECT count(*) AS n FROM pg_stat_progress_create_index "
        "WHERE datname = current_database()",
    )
    assert rows[0]["n"] == 0, "the build must stop with its object"
    assert invalid_indexes(big_db.dsn) == []
    assert index_facts(big_db.dsn, "big_k") is None


def test_delete_with_database_unreachable_releases_after_timeout(db: Target, kube: Kube) -> None:
    """DBINDEX_DELETION_TIMEOUT is 6 s in this suite."""
    _simple(db, kube, "t-email", "Delete")
    kube.secret(db.namespace, "db", {"dsn": "postgresql://postgres@127.0.0.1:1/nowhere"})
    kube.delete(db.namespace, "t-email")
    time.sleep(3)
    assert kube.exists(db.namespace, "t-email"), "released before the timeout"
    took = kube.wait_gone(db.namespace, "t-email", timeout=60)
    assert took > 1
    reasons = kube.event_reasons(db.namespace, "t-email")
    assert "FinalizerReleased" in reasons
    # The database was unreachable: the index is still there (and we said so).
    assert index_facts(db.dsn, "t_email") is not None


def test_delete_with_secret_gone_uses_the_last_known_connection(db: Target, kube: Kube) -> None:
    _simple(db, kube, "t-email", "Delete")
    kube.core.delete_namespaced_secret("db", db.namespace)
    kube.delete(db.namespace, "t-email")
    took = kube.wait_gone(db.namespace, "t-email", timeout=60)
    assert took < 5, "no waiting for the deletion timeout: the operator knew the connection"
    assert index_facts(db.dsn, "t_email") is None


def test_deleting_the_namespace_drops_delete_policy_indexes(
    db: Target, kube: Kube, kubectl: Kubectl
) -> None:
    """The namespace controller deletes the Secret and the objects in no particular order."""
    _simple(db, kube, "t-email", "Delete")
    sql(db.dsn, "CREATE INDEX kept ON t (id)")
    kube.create(
        db.namespace,
        "kept",
        {"connection": connection(), "table": "t", "columns": [{"column": "id"}]},
    )
    kube.wait(db.namespace, "kept", is_ready)
    kubectl("delete", "namespace", db.namespace, "--timeout=60s")
    assert index_facts(db.dsn, "t_email") is None
    assert index_facts(db.dsn, "kept") is not None, "Retain keeps its index"


def test_spec_change_is_observed(db: Target, kube: Kube) -> None:
    """updatePolicy Manual: a changed spec is reported (the index is left alone), and changing
    it back heals without touching the index. (Replace, the default: tests/e2e/test_day_two.py.)"""
    _simple(db, kube, "t-email")
    oid = sql(db.dsn, "SELECT 't_email'::regclass::oid AS oid")[0]["oid"]
    kube.patch(
        db.namespace,
        "t-email",
        {"spec": {"updatePolicy": "Manual", "columns": [{"column": "email", "order": "Desc"}]}},
    )
    status = kube.wait(db.namespace, "t-email", lambda s: s.get("observedGeneration") == 2)
    assert status["phase"] == "Failed"
    degraded = kube.condition(db.namespace, "t-email", "Degraded")
    assert degraded["reason"] == "DefinitionMismatch" and degraded["observedGeneration"] == 2
    # Changing it back heals without touching the index.
    kube.patch(db.namespace, "t-email", {"spec": {"columns": [{"column": "email"}]}})
    status = kube.wait(
        db.namespace, "t-email", lambda s: s.get("observedGeneration") == 3 and is_ready(s)
    )
    assert sql(db.dsn, "SELECT 't_email'::regclass::oid AS oid")[0]["oid"] == oid


def test_invalid_spec_then_fixed(db: Target, kube: Kube) -> None:
    sql(db.dsn, "CREATE TABLE t (id int, email text)")
    kube.create(
        db.namespace,
        "bad",
        {"connection": connection(), "table": "t", "columns": [{"expression": "id; DROP TABLE t"}]},
    )
    kube.wait(db.namespace, "bad", lambda s: s.get("phase") == "Failed")
    assert kube.condition(db.namespace, "bad", "Degraded")["reason"] == "InvalidSpec"
    assert "InvalidSpec" in kube.event_reasons(db.namespace, "bad")
    kube.patch(db.namespace, "bad", {"spec": {"columns": [{"expression": "id + 1"}]}})
    kube.wait(db.namespace, "bad", is_ready)
