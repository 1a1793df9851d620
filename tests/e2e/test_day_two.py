"""Day two end to end: replacing an index without a moment of no index, crash safety at every
step of a replacement, refusals, drift, updatePolicy Manual and spec.paused."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import asyncpg
import pytest

from tests.e2e.conftest import (
    SLOW_BUILD,
    Kube,
    Operator,
    Target,
    connection,
    invalid_indexes,
    is_ready,
    sql,
)

OURS = "(relname LIKE '%\\_dbinew\\_%' OR relname LIKE '%\\_dbiold\\_%')"


def indexes_on(dsn: str, table: str) -> dict[str, str]:
    """name -> pg_get_indexdef for every index on `table`."""
    rows = sql(
        dsn,
        "SELECT i.relname, pg_get_indexdef(i.oid) AS def FROM pg_index x "
        "JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = $1::regclass",
        table,
    )
    return {row["relname"]: row["def"] for row in rows}


def reference_definition(dsn: str, table: str, create: str, name: str) -> str:
    """The definition psql gets from `create` (a CREATE INDEX naming `ref_x`), renamed to
    `name`: built on the same table, read, dropped again."""
    sql(dsn, create)
    definition = indexes_on(dsn, table)["ref_x"]
    sql(dsn, "DROP INDEX ref_x")
    return definition.replace("INDEX ref_x ON", f"INDEX {name} ON")


def ours_left(dsn: str) -> list[str]:
    rows = sql(dsn, f"SELECT relname FROM pg_class WHERE relkind = 'i' AND {OURS}")
    return [row["relname"] for row in rows]


def wait_generation_ready(
    kube: Kube, ns: str, name: str, generation: int, timeout: float = 90
) -> dict[str, Any]:
    return kube.wait(
        ns,
        name,
        lambda s: s.get("observedGeneration") == generation and is_ready(s),
        timeout=timeout,
        what=f"Ready at generation {generation}",
    )


def _table(db: Target) -> None:
    sql(db.dsn, "CREATE TABLE t (id int NOT NULL, email text, tenant int, score int)")
    sql(
        db.dsn,
        "INSERT INTO t SELECT g, 'user' || g || '@example.com', g % 10, g % 100 "
        "FROM generate_series(1, 20000) g",
    )


CHANGES = [
    pytest.param(
        {"columns": [{"column": "email"}, {"column": "tenant"}]},
        "CREATE INDEX ref_x ON t (email, tenant)",
        id="columns",
    ),
    pytest.param(
        {"where": "tenant > 3"},
        "CREATE INDEX ref_x ON t (email) WHERE tenant > 3",
        id="where",
    ),
    pytest.param(
        {"include": ["score"]},
        "CREATE INDEX ref_x ON t (email) INCLUDE (score)",
        id="include",
    ),
    pytest.param({"method": "hash"}, "CREATE INDEX ref_x ON t USING hash (email)", id="method"),
    pytest.param({"unique": True}, "CREATE UNIQUE INDEX ref_x ON t (email)", id="unique"),
]


@pytest.mark.parametrize(("change", "reference"), CHANGES)
def test_a_spec_change_replaces_the_index(
    db: Target, kube: Kube, change: dict[str, Any], reference: str
) -> None:
    _table(db)
    kube.create(
        db.namespace,
        "t-email",
        {"connection": connection(), "table": "t", "columns": [{"column": "email"}]},
    )
    kube.wait(db.namespace, "t-email", is_ready)
    sql(db.dsn, "COMMENT ON INDEX t_email IS 'who looks up by email'")
    sql(db.dsn, "ALTER TABLE t CLUSTER ON t_email")
    old_oid = sql(db.dsn, "SELECT 't_email'::regclass::oid AS oid")[0]["oid"]

    kube.patch(db.namespace, "t-email", {"spec": change})
    wait_generation_ready(kube, db.namespace, "t-email", 2)

    expected = reference_definition(db.dsn, "t", reference, "t_email")
    assert indexes_on(db.dsn, "t") == {"t_email": expected}
    assert sql(db.dsn, "SELECT 't_email'::regclass::oid AS oid")[0]["oid"] != old_oid
    facts = sql(
        db.dsn,
        "SELECT obj_description('t_email'::regclass, 'pg_class') AS comment, x.indisclustered "
        "FROM pg_index x WHERE x.indexrelid = 't_email'::regclass",
    )[0]
    assert facts["comment"] == "who looks up by email"
    clusterable = change.get("method") != "hash" and "where" not in change
    assert facts["indisclustered"] == clusterable  # hash and partial indexes cannot cluster
    assert ours_left(db.dsn) == [] and invalid_indexes(db.dsn) == []
    reasons = kube.event_reasons(db.namespace, "t-email")
    assert {"ReplaceStarted", "IndexSwapped", "OldIndexDropped"} <= set(reasons), reasons


class GapWatcher:
    """Asks PostgreSQL every few milliseconds whether a valid index of the name exists, and
    whether a query forced off sequential scans still uses an index."""

    def __init__(self, dsn: str, name: str, query: str) -> None:
        self.dsn, self.name, self.query = dsn, name, query
        self.samples = 0
        self.gaps: list[str] = []
        self.plans: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def __enter__(self) -> GapWatcher:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(30)

    async def _run(self) -> None:
        conn = await asyncpg.connect(self.dsn)
        await conn.execute("SET enable_seqscan = off")
        try:
            while not self._stop.is_set():
                valid = await conn.fetchval(
                    "SELECT count(*) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
                    "WHERE i.relname = $1 AND x.indisvalid",
                    self.name,
                )
                plan = await conn.fetchval(f"EXPLAIN (COSTS OFF) {self.query}")
                self.samples += 1
                if valid != 1:
                    self.gaps.append(f"{valid} valid indexes named {self.name}")
                if "Index" not in plan:
                    self.gaps.append(f"plan without an index: {plan}")
                self.plans.add(plan.split(" on ")[0].split(" using ")[0].strip())
                await asyncio.sleep(0.02)
        finally:
            await conn.close()


def test_no_moment_without_the_index(big_db: Target, kube: Kube) -> None:
    kube.create(
        big_db.namespace,
        "big-k",
        {"connection": connection(), "table": "big", "columns": [{"column": "k"}]},
    )
    kube.wait(big_db.namespace, "big-k", is_ready, timeout=120)
    with GapWatcher(big_db.dsn, "big_k", "SELECT id FROM big WHERE k = 'x'") as watcher:
        kube.patch(
            big_db.namespace,
            "big-k",
            {"spec": {"include": ["id"], "build": SLOW_BUILD}},
        )
        kube.wait(
            big_db.namespace,
            "big-k",
            lambda s: s.get("phase") == "Replacing",
            what="Replacing",
        )
        wait_generation_ready(kube, big_db.namespace, "big-k", 2, timeout=180)
        time.sleep(0.5)
    assert watcher.samples > 20, watcher.samples
    assert watcher.gaps == [], watcher.gaps[:5]
    assert indexes_on(big_db.dsn, "big")["big_k"].endswith("(k) INCLUDE (id)")
    assert ours_left(big_db.dsn) == []


def test_sigkill_during_the_replacement_build_converges(
    big_db: Target, kube: Kube, operator: Operator
) -> None:
    kube.create(
        big_db.namespace,
        "big-k",
        {"connection": connection(), "table": "big", "columns": [{"column": "k"}]},
    )
    kube.wait(big_db.namespace, "big-k", is_ready, timeout=120)
    kube.patch(
        big_db.namespace,
        "big-k",
        {"spec": {"columns": [{"column": "k", "order": "Desc"}], "build": SLOW_BUILD}},
    )
    kube.wait(
        big_db.namespace,
        "big-k",
        lambda s: (
            s.get("phase") == "Replacing"
            and "building" in (s.get("progress") or {}).get("phase", "")
        ),
        what="the replacement building",
    )
    operator.kill()
    operator.start()
    wait_generation_ready(kube, big_db.namespace, "big-k", 2, timeout=180)
    assert indexes_on(big_db.dsn, "big") == {
        "big_k": "CREATE INDEX big_k ON public.big USING btree (k DESC)"
    }
    assert ours_left(big_db.dsn) == [] and invalid_indexes(big_db.dsn) == []


# The catalog a SIGKILL leaves at each later step, made by hand while the operator is down;
# the restarted operator must converge on one valid index with the new definition.
CRASH_STATES = [
    pytest.param(
        ["CREATE INDEX t_email_dbinew_{h} ON t (email, tenant)"],
        id="replacement-valid-not-swapped",
    ),
    pytest.param(
        [
            "ALTER INDEX t_email RENAME TO t_email_dbiold_{h}",
            "CREATE INDEX t_email ON t (email, tenant)",
        ],
        id="swapped-old-not-dropped",
    ),
    pytest.param(
        [
            "ALTER INDEX t_email RENAME TO t_email_dbiold_{h}",
            "CREATE INDEX t_email ON t (email, tenant)",
            "UPDATE pg_index SET indisvalid = false "
            "WHERE indexrelid = 't_email_dbiold_{h}'::regclass",
        ],
        id="old-index-drop-interrupted",
    ),
    pytest.param(
        [
            "CREATE INDEX t_email_dbinew_{h} ON t (email, tenant)",
            "UPDATE pg_index SET indisvalid = false "
            "WHERE indexrelid = 't_email_dbinew_{h}'::regclass",
        ],
        id="replacement-build-died",
    ),
]


@pytest.mark.parametrize("crash", CRASH_STATES)
def test_a_crash_at_any_later_step_converges(
    db: Target, kube: Kube, operator: Operator, crash: list[str]
) -> None:
    from dbindex_operator.core import names

    digest = names.replacement("t_email").rsplit("_", 1)[1]
    _table(db)
    kube.create(
        db.namespace,
        "t-email",
        {"connection": connection(), "table": "t", "columns": [{"column": "email"}]},
    )
    kube.wait(db.namespace, "t-email", is_ready)
    operator.kill()
    try:
        for statement in crash:
            sql(db.dsn, statement.format(h=digest))
        kube.patch(
            db.namespace,
            "t-email",
            {"spec": {"columns": [{"column": "email"}, {"column": "tenant"}]}},
        )
    finally:
        operator.start()
    wait_generation_ready(kube, db.namespace, "t-email", 2)
    assert indexes_on(db.dsn, "t") == {
        "t_email": "CREATE INDEX t_email ON public.t USING btree (email, tenant)"
    }
    assert ours_left(db.dsn) == [] and invalid_indexes(db.dsn) == []


@pytest.mark.parametrize(
    ("setup", "index"),
    [
        pytest.param(
            "ALTER TABLE t ADD CONSTRAINT t_pk PRIMARY KEY (id)", "t_pk", id="primary-key"
        ),
        pytest.param(
            "CREATE UNIQUE INDEX t_ident ON t (id); "
            "ALTER TABLE t REPLICA IDENTITY USING INDEX t_ident",
            "t_ident",
            id="replica-identity",
        ),
    ],
)
def test_constraint_and_replica_identity_indexes_are_refused(
    db: Target, kube: Kube, setup: str, index: str
) -> None:
    _table(db)
    for statement in setup.split("; "):
        sql(db.dsn, statement)
    spec = {
        "connection": connection(),
        "table": "t",
        "name": index,
        "unique": True,
        "columns": [{"column": "id"}],
    }
    kube.create(db.namespace, "ident", spec)
    kube.wait(db.namespace, "ident", is_ready)
    before = indexes_on(db.dsn, "t")
    oid = sql(db.dsn, f"SELECT '{index}'::regclass::oid AS oid")[0]["oid"]
    kube.patch(
        db.namespace, "ident", {"spec": {"columns": [{"column": "id"}, {"column": "tenant"}]}}
    )
    status = kube.wait(db.namespace, "ident", lambda s: s.get("observedGeneration") == 2)
    assert status["phase"] == "Failed"
    degraded = kube.condition(db.namespace, "ident", "Degraded")
    assert degraded["reason"] == "ConstraintIndex", degraded
    time.sleep(4)  # a resync later: still untouched
    assert indexes_on(db.dsn, "t") == before
    assert sql(db.dsn, f"SELECT '{index}'::regclass::oid AS oid")[0]["oid"] == oid
    assert ours_left(db.dsn) == []


@pytest.mark.parametrize(
    ("change", "found", "event"),
    [
        pytest.param("DROP INDEX t_email", "dropped", "BuildSucceeded", id="dropped-is-rebuilt"),
        pytest.param(
            "UPDATE pg_index SET indisvalid = false WHERE indexrelid = 't_email'::regclass",
            "INVALID",
            "InvalidIndexDropped",
            id="made-invalid-is-healed",
        ),
    ],
)
def test_drift_by_hand_is_healed(
    db: Target, kube: Kube, change: str, found: str, event: str
) -> None:
    _table(db)
    kube.create(
        db.namespace,
        "t-email",
        {"connection": connection(), "table": "t", "columns": [{"column": "email"}]},
    )
    kube.wait(db.namespace, "t-email", is_ready)
    sql(db.dsn, change)
    status = kube.wait(
        db.namespace,
        "t-email",
        lambda s: is_ready(s) and s.get("lastDrift") is not None,
        timeout=30,
        what="healed after a drift",
    )
    assert found in status["lastDrift"]["found"]
    assert "t_email" in indexes_on(db.dsn, "t")
    assert invalid_indexes(db.dsn) == []
    reasons = kube.event_reasons(db.namespace, "t-email")
    assert "Drifted" in reasons and event in reasons, reasons


@pytest.mark.parametrize("policy", ["Replace", "Manual"])
def test_drift_definition_changed_by_hand(db: Target, kube: Kube, policy: str) -> None:
    _table(db)
    spec = {
        "connection": connection(),
        "table": "t",
        "columns": [{"column": "email"}],
        "updatePolicy": policy,
    }
    kube.create(db.namespace, "t-email", spec)
    kube.wait(db.namespace, "t-email", is_ready)
    sql(db.dsn, "DROP INDEX t_email")
    sql(db.dsn, "CREATE INDEX t_email ON t (email DESC)")
    wanted = "CREATE INDEX t_email ON public.t USING btree (email)"
    if policy == "Replace":
        kube.wait(
            db.namespace,
            "t-email",
            lambda s: is_ready(s) and s.get("lastDrift") is not None,
            timeout=30,
            what="replaced after a drift",
        )
        assert indexes_on(db.dsn, "t") == {"t_email": wanted}
        return
    kube.wait(db.namespace, "t-email", lambda s: s.get("phase") == "Failed", timeout=30)
    degraded = kube.condition(db.namespace, "t-email", "Degraded")
    assert degraded["reason"] == "DefinitionMismatch" and "Manual" in degraded["message"]
    time.sleep(4)  # a resync later: reported, not touched
    assert indexes_on(db.dsn, "t") == {
        "t_email": "CREATE INDEX t_email ON public.t USING btree (email DESC)"
    }
    kube.patch(db.namespace, "t-email", {"metadata": {"annotations": {"dbindex.dev/retry": "go"}}})
    kube.wait(db.namespace, "t-email", is_ready, timeout=30)
    assert indexes_on(db.dsn, "t") == {"t_email": wanted}
    assert ours_left(db.dsn) == []


def test_adopting_a_different_index_is_not_drift(db: Target, kube: Kube) -> None:
    _table(db)
    sql(db.dsn, "CREATE INDEX t_email ON t (email DESC)")
    spec = {"connection": connection(), "table": "t", "columns": [{"column": "email"}]}
    kube.create(db.namespace, "t-email", spec)
    kube.wait(db.namespace, "t-email", lambda s: s.get("phase") == "Failed")
    assert kube.condition(db.namespace, "t-email", "Degraded")["reason"] == "DefinitionMismatch"
    time.sleep(4)
    assert "DESC" in indexes_on(db.dsn, "t")["t_email"], "adoptPolicy Refuse never clobbers"
    kube.patch(db.namespace, "t-email", {"spec": {"adoptPolicy": "Replace"}})
    wait_generation_ready(kube, db.namespace, "t-email", 2)
    assert indexes_on(db.dsn, "t") == {
        "t_email": "CREATE INDEX t_email ON public.t USING btree (email)"
    }


def test_paused_plans_and_executes_nothing_until_unpaused(db: Target, kube: Kube) -> None:
    _table(db)
    spec = {
        "connection": connection(),
        "table": "t",
        "columns": [{"column": "email"}],
        "paused": True,
    }
    kube.create(db.namespace, "t-email", spec)
    status = kube.wait(db.namespace, "t-email", lambda s: s.get("phase") == "Paused")
    assert status["plan"] == {
        "action": "Build",
        "statements": ["CREATE INDEX CONCURRENTLY t_email ON public.t USING btree (email)"],
    }
    time.sleep(4)  # a resync later: still nothing built
    assert indexes_on(db.dsn, "t") == {}
    kube.patch(db.namespace, "t-email", {"spec": {"paused": False}})
    kube.wait(db.namespace, "t-email", is_ready)
    assert indexes_on(db.dsn, "t") == {
        "t_email": "CREATE INDEX t_email ON public.t USING btree (email)"
    }

    # Paused over a Ready index with a new definition: the whole replacement is planned.
    kube.patch(
        db.namespace, "t-email", {"spec": {"paused": True, "columns": [{"column": "tenant"}]}}
    )
    status = kube.wait(
        db.namespace,
        "t-email",
        lambda s: s.get("phase") == "Paused" and s.get("observedGeneration") == 3,
    )
    from dbindex_operator.core import names

    new, old = names.replacement("t_email"), names.retired("t_email")
    assert status["plan"] == {
        "action": "BuildReplacement",
        "statements": [
            f"CREATE INDEX CONCURRENTLY {new} ON public.t USING btree (tenant)",
            "BEGIN",
            f"ALTER INDEX public.t_email RENAME TO {old}",
            f"ALTER INDEX public.{new} RENAME TO t_email",
            "COMMIT",
            f"DROP INDEX CONCURRENTLY IF EXISTS public.{old}",
        ],
    }
    time.sleep(4)
    assert indexes_on(db.dsn, "t") == {
        "t_email": "CREATE INDEX t_email ON public.t USING btree (email)"
    }
    kube.patch(db.namespace, "t-email", {"spec": {"paused": False}})
    wait_generation_ready(kube, db.namespace, "t-email", 4)
    assert indexes_on(db.dsn, "t") == {
        "t_email": "CREATE INDEX t_email ON public.t USING btree (tenant)"
    }
