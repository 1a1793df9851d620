"""Three faults of the single-class worker, each shown fixed end to end (issue #11):
a locked table stalled the whole database's pass; a transient error while checking a definition
turned the object Failed; deletion waited inside the Kopf handler and did not survive a crash."""

from __future__ import annotations

import time

from tests.e2e.conftest import (
    Kube,
    Operator,
    Target,
    connection,
    index_facts,
    invalid_indexes,
    is_ready,
    sql,
    table_locked,
)


def test_a_locked_table_delays_only_its_own_objects(db: Target, kube: Kube) -> None:
    """Reading an index's definition (pg_get_indexdef, and the definition check's scratch copy of
    the table) needs ACCESS SHARE on its table. Behind a session holding ACCESS EXCLUSIVE that
    used to stall the whole database's pass. Now the catalog read skips the locked table's
    definitions: the other objects go on, the locked table's object waits (TableLocked, never
    Failed) and is adopted once the lock is gone."""
    sql(db.dsn, "CREATE TABLE locked (id int, v text)")
    sql(db.dsn, "CREATE TABLE free (id int)")
    sql(db.dsn, "CREATE INDEX locked_lower ON locked (lower(v))")
    sql(db.dsn, "CREATE INDEX free_v ON free (id)")
    with table_locked(db.dsn, "locked") as holder:
        kube.create(
            db.namespace,
            "locked-lower",
            {
                "connection": connection(),
                "table": "locked",
                "columns": [{"expression": "lower(v)"}],
            },
        )
        kube.create(
            db.namespace,
            "free-id",
            {"connection": connection(), "table": "free", "columns": [{"column": "id"}]},
        )
        kube.create(  # an adoption on the free table that needs a definition check too
            db.namespace,
            "free-v",
            {"connection": connection(), "table": "free", "columns": [{"expression": "id"}]},
        )
        kube.wait(db.namespace, "free-id", is_ready, timeout=30, what="Ready beside a lock")
        kube.wait(db.namespace, "free-v", is_ready, timeout=30, what="adopted beside a lock")
        waiting = kube.wait(
            db.namespace,
            "locked-lower",
            # From the same status it returns (a second GET could see a newer one).
            lambda s: any(
                c.get("type") == "Ready" and c.get("reason") == "TableLocked"
                for c in s.get("conditions") or ()
            ),
            timeout=30,
            what="TableLocked",
        )
        assert waiting["phase"] == "Pending", waiting
        assert holder.poll() is None, "the lock was held all along"
    ready = kube.wait(db.namespace, "locked-lower", is_ready, timeout=60)
    assert kube.condition(db.namespace, "locked-lower", "Ready")["reason"] == "Adopted", ready
    reasons = kube.event_reasons(db.namespace, "locked-lower")
    assert "InvalidDefinition" not in reasons and "ConnectionFailed" not in reasons


def test_deletion_is_a_state_that_survives_sigkill(
    db: Target, kube: Kube, operator: Operator
) -> None:
    """deletionPolicy Delete while another transaction still uses the table: DROP INDEX
    CONCURRENTLY waits for it. The object shows phase Deleting meanwhile (the Kopf handler is not
    blocked), survives a SIGKILL of the operator, and the restarted operator resumes the drop
    from the catalog and lets the object go once the transaction ends."""
    sql(db.dsn, "CREATE TABLE t (id int)")
    kube.create(
        db.namespace,
        "t-id",
        {
            "connection": connection(),
            "table": "t",
            "columns": [{"column": "id"}],
            "deletionPolicy": "Delete",
            "build": {"lockTimeout": "2min"},
        },
    )
    kube.wait(db.namespace, "t-id", is_ready)
    with table_locked(db.dsn, "t", mode="ACCESS SHARE"):
        kube.delete(db.namespace, "t-id")
        deleting = kube.wait_phase(db.namespace, "t-id", "Deleting", timeout=15)
        assert deleting["conditions"][0]["reason"] == "Deleting"
        operator.kill()
        try:
            time.sleep(1)
            assert kube.exists(db.namespace, "t-id"), "the finalizer holds while nobody cleans up"
        finally:
            operator.start()
        time.sleep(3)
        assert kube.status(db.namespace, "t-id")["phase"] == "Deleting"
        assert index_facts(db.dsn, "t_id") is not None, "the drop waits for the transaction"
    kube.wait_gone(db.namespace, "t-id", timeout=60)
    assert index_facts(db.dsn, "t_id") is None
    assert invalid_indexes(db.dsn) == []
    assert "FinalizerReleased" not in kube.event_reasons(db.namespace, "t-id")


def test_deleting_a_ready_retain_object_is_quick_and_keeps_the_index(
    db: Target, kube: Kube
) -> None:
    """The common case finishes inside the handler's first short wait: no Kopf retry round."""
    sql(db.dsn, "CREATE TABLE t (id int)")
    kube.create(
        db.namespace,
        "t-id",
        {"connection": connection(), "table": "t", "columns": [{"column": "id"}]},
    )
    kube.wait(db.namespace, "t-id", is_ready)
    kube.delete(db.namespace, "t-id")
    took = kube.wait_gone(db.namespace, "t-id", timeout=30)
    assert took < 5, f"deletion took {took:.1f}s"
    facts = index_facts(db.dsn, "t_id")
    assert facts is not None and facts["valid"]
