"""The core story end to end: build, adopt, heal, report, against real PostgreSQL + API server."""

from __future__ import annotations

import time
from typing import Any

from tests.conftest import Kubectl
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


def _table(dsn: str, rows: int = 1000) -> None:
    sql(dsn, "CREATE TABLE t (id bigint, email text, v text, n int, tags text[], payload jsonb)")
    sql(
        dsn,
        f"INSERT INTO t SELECT g, 'user' || g || '@x', "
        f"CASE WHEN g % 2 = 0 THEN 'public' END, g % 10, ARRAY['a' || g % 3], "
        f"jsonb_build_object('k', g) FROM generate_series(1, {rows}) g",
    )


def test_builds_an_index_to_ready(db: Target, kube: Kube, kubectl: Kubectl) -> None:
    _table(db.dsn)
    kube.create(
        db.namespace,
        "t-email",
        {"connection": connection(), "table": "t", "columns": [{"column": "email"}]},
    )
    # What a user (or a CI pipeline) would do:
    kubectl("wait", "--for=condition=Ready", "-n", db.namespace, "dbindex/t-email", "--timeout=60s")
    status = kube.status(db.namespace, "t-email")
    facts = index_facts(db.dsn, "t_email")
    assert facts is not None and facts["valid"]
    assert facts["def"] == "CREATE INDEX t_email ON public.t USING btree (email)"
    assert status["index"] == {
        "schema": "public",
        "name": "t_email",
        "valid": True,
        "definition": facts["def"],
    }
    assert status["attempts"] == 1
    assert status["observedGeneration"] == 1
    assert status["progress"]["percent"] == 100
    ready = kube.condition(db.namespace, "t-email", "Ready")
    assert ready["status"] == "True" and ready["observedGeneration"] == 1
    assert kube.condition(db.namespace, "t-email", "Degraded")["status"] == "False"
    assert kube.condition(db.namespace, "t-email", "Progressing")["status"] == "False"
    reasons = kube.event_reasons(db.namespace, "t-email")
    assert "BuildSucceeded" in reasons
    assert "BuildStarted" not in reasons  # the start is in status (issue #15 section 3)


def test_every_spec_field_reaches_the_catalog(db: Target, kube: Kube) -> None:
    _table(db.dsn)
    # NULLS NOT DISTINCT exists from PostgreSQL 15 on (14 refuses it: tests/e2e/test_compat.py).
    nnd = sql(db.dsn, "SELECT current_setting('server_version_num')::int >= 150000 AS ok")[0]["ok"]
    sql(db.dsn, 'CREATE SCHEMA "App Data"')
    sql(db.dsn, 'CREATE TABLE "App Data"."Users" ("Email" text, id int, n int)')
    kube.create(
        db.namespace,
        "everything",
        {
            "connection": connection(),
            "schema": "App Data",
            "table": "Users",
            "name": "Users Email Idx",
            "method": "btree",
            "unique": True,
            "nullsNotDistinct": nnd,
            "columns": [
                {
                    "column": "Email",
                    "order": "Desc",
                    "nulls": "Last",
                    "collation": "C",
                    "opclass": "text_pattern_ops",
                },
                {"expression": "(n * 2)", "order": "Asc", "nulls": "First"},
            ],
            "include": ["id"],
            "where": "n > 0",
            "tablespace": "pg_default",
            "storageParameters": {"fillfactor": "70", "deduplicate_items": "off"},
            "deletionPolicy": "Delete",
            "build": {
                "lockTimeout": "10s",
                "statementTimeout": "5min",
                "maintenanceWorkMem": "64MB",
                "parallelWorkers": 1,
            },
            "retry": {"maxAttempts": 3, "initialBackoffSeconds": 1, "maxBackoffSeconds": 5},
        },
    )
    kube.wait(db.namespace, "everything", is_ready)
    facts = index_facts(db.dsn, "Users Email Idx", schema="App Data")
    assert facts is not None and facts["valid"]
    assert facts["def"] == (
        'CREATE UNIQUE INDEX "Users Email Idx" ON "App Data"."Users" USING btree '
        '("Email" COLLATE "C" text_pattern_ops DESC NULLS LAST, ((n * 2)) NULLS FIRST) '
        f"INCLUDE (id) {'NULLS NOT DISTINCT ' if nnd else ''}"
        "WITH (deduplicate_items=off, fillfactor='70') "
        "WHERE (n > 0)"
    )


def test_gin_and_other_methods(db: Target, kube: Kube) -> None:
    _table(db.dsn)
    specs = {
        "t-tags-gin": ({"method": "gin", "columns": [{"column": "tags"}]}, "USING gin (tags)"),
        "t-payload-gin": (
            {"method": "gin", "columns": [{"column": "payload", "opclass": "jsonb_path_ops"}]},
            "USING gin (payload jsonb_path_ops)",
        ),
        "t-id-brin": (
            {
                "method": "brin",
                "columns": [{"column": "id"}],
                "storageParameters": {"pages_per_range": "32"},
            },
            "USING brin (id) WITH (pages_per_range='32')",
        ),
        "t-v-hash": ({"method": "hash", "columns": [{"column": "v"}]}, "USING hash (v)"),
    }
    for name, (spec, _) in specs.items():
        kube.create(db.namespace, name, {"connection": connection(), "table": "t", **spec})
    for name, (_, fragment) in specs.items():
        kube.wait(db.namespace, name, is_ready)
        facts = index_facts(db.dsn, name.replace("-", "_"))
        assert facts is not None and facts["valid"] and fragment in facts["def"], facts


def test_adopts_an_identical_existing_index(db: Target, kube: Kube) -> None:
    _table(db.dsn)
    sql(db.dsn, "CREATE INDEX t_lower ON t (lower(email)) WHERE v = 'public'")
    before = sql(db.dsn, "SELECT oid FROM pg_class WHERE relname = 't_lower'")[0]["oid"]
    kube.create(
        db.namespace,
        "t-lower",
        {
            "connection": connection(),
            "table": "t",
            "columns": [{"expression": "lower(email)"}],
            "where": "v = 'public'",
        },
    )
    status = kube.wait(db.namespace, "t-lower", is_ready)
    assert kube.condition(db.namespace, "t-lower", "Ready")["reason"] == "Adopted"
    after = sql(db.dsn, "SELECT oid FROM pg_class WHERE relname = 't_lower'")[0]["oid"]
    assert before == after, "an identical index must be adopted, not rebuilt"
    assert status["attempts"] == 0
    assert "Adopted" not in kube.event_reasons(db.namespace, "t-lower")  # status says it


def test_a_different_valid_index_is_left_alone(db: Target, kube: Kube) -> None:
    _table(db.dsn)
    sql(db.dsn, "CREATE INDEX t_email ON t (email DESC)")
    kube.create(
        db.namespace,
        "t-email",
        {"connection": connection(), "table": "t", "columns": [{"column": "email"}]},
    )
    status = kube.wait_phase(db.namespace, "t-email", "Failed")
    degraded = kube.condition(db.namespace, "t-email", "Degraded")
    assert degraded["status"] == "True" and degraded["reason"] == "DefinitionMismatch"
    assert kube.condition(db.namespace, "t-email", "Ready")["status"] == "False"
    assert "DefinitionMismatch" in kube.event_reasons(db.namespace, "t-email")
    assert status["index"]["valid"] is True
    assert index_facts(db.dsn, "t_email") == {
        "valid": True,
        "ready": True,
        "def": "CREATE INDEX t_email ON public.t USING btree (email DESC)",
    }


def test_a_planted_invalid_index_is_dropped_and_rebuilt(db: Target, kube: Kube) -> None:
    _table(db.dsn)
    # The IF NOT EXISTS trap: an INVALID index of the same name (and another definition).
    sql(db.dsn, "CREATE INDEX t_email ON t (id)")
    sql(
        db.dsn,
        "UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'public.t_email'::regclass",
    )
    kube.create(
        db.namespace,
        "t-email",
        {"connection": connection(), "table": "t", "columns": [{"column": "email"}]},
    )
    kube.wait(db.namespace, "t-email", is_ready)
    facts = index_facts(db.dsn, "t_email")
    assert facts == {
        "valid": True,
        "ready": True,
        "def": "CREATE INDEX t_email ON public.t USING btree (email)",
    }
    assert "InvalidIndexDropped" in kube.event_reasons(db.namespace, "t-email")
    assert invalid_indexes(db.dsn) == []


def test_table_missing_waits_then_builds(db: Target, kube: Kube) -> None:
    kube.create(
        db.namespace,
        "late",
        {"connection": connection(), "table": "later", "columns": [{"column": "id"}]},
    )
    kube.wait(
        db.namespace,
        "late",
        lambda s: (
            s.get("phase") == "Waiting"
            and any(c["reason"] == "TableNotFound" for c in s.get("conditions", []))
        ),
    )
    assert kube.condition(db.namespace, "late", "Ready")["status"] == "False"
    sql(db.dsn, "CREATE TABLE later (id int)")
    kube.wait(db.namespace, "late", is_ready, timeout=30)


def test_progress_reports_phases_and_never_goes_backwards(big_db: Target, kube: Kube) -> None:
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
    phases: list[str] = []
    percents: list[int] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status = kube.status(big_db.namespace, "big-k")
        if status.get("phase") == "Building" and "progress" in status:
            progress = status["progress"]
            percents.append(progress["percent"])
            if not phases or phases[-1] != progress["phase"]:
                phases.append(progress["phase"])
        if status.get("phase") == "Ready":
            break
        time.sleep(0.1)
    assert is_ready(kube.status(big_db.namespace, "big-k"))
    pg_phases = [p for p in phases if p not in ("initializing", "waiting for table lock")]
    assert len(set(pg_phases)) >= 2, phases
    assert percents == sorted(percents), percents
    assert percents[-1] > percents[0], percents


def test_two_indexes_on_one_table_never_build_concurrently(big_db: Target, kube: Kube) -> None:
    for name, expression in (("big-a", "md5(k)"), ("big-b", "md5(k || 'b')")):
        kube.create(
            big_db.namespace,
            name,
            {
                "connection": connection(),
                "table": "big",
                "columns": [{"expression": expression}],
                "build": SLOW_BUILD,
            },
        )
    most = 0
    seen_builds = 0
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        rows = sql(
            big_db.dsn,
            "SELECT count(*) AS n FROM pg_stat_progress_create_index p "
            "WHERE p.relid = 'big'::regclass",
        )
        most = max(most, rows[0]["n"])
        seen_builds += rows[0]["n"] > 0
        if all(is_ready(kube.status(big_db.namespace, n)) for n in ("big-a", "big-b")):
            break
        time.sleep(0.05)
    assert all(is_ready(kube.status(big_db.namespace, n)) for n in ("big-a", "big-b"))
    assert seen_builds > 0, "the builds were never observed"
    assert most == 1
    a, b = (kube.status(big_db.namespace, n) for n in ("big-a", "big-b"))
    first, second = sorted((a, b), key=lambda s: s["startedAt"])
    assert first["completedAt"] <= second["startedAt"]


def _status_has(status: dict[str, Any], reason: str) -> bool:
    return any(c.get("reason") == reason for c in status.get("conditions", []))


def test_operator_logs_say_no_secret(operator: Operator, kube: Kube, db: Target) -> None:
    """Runs late in the module: every earlier test's logs are in the file by now."""
    password = "Sup3r-S3cret-Pa55"
    dsn = db.dsn.replace("postgres@", f"postgres:{password}@")
    kube.secret(db.namespace, "withpw", {"dsn": dsn})
    _table(db.dsn)
    kube.create(
        db.namespace,
        "pw",
        {"connection": connection("withpw"), "table": "t", "columns": [{"column": "id"}]},
    )
    kube.wait(db.namespace, "pw", is_ready)
    bad = dsn.replace(db.dsn.rsplit(":", 1)[1].split("/")[0], "1")
    kube.secret(db.namespace, "badpw", {"dsn": bad})
    kube.create(
        db.namespace,
        "pw-bad",
        {"connection": connection("badpw"), "table": "t", "columns": [{"column": "n"}]},
    )
    kube.wait(db.namespace, "pw-bad", lambda s: _status_has(s, "ConnectionFailed"))
    for name in ("pw", "pw-bad"):
        assert password not in str(kube.get(db.namespace, name))
    for event in kube.events(db.namespace):
        assert password not in (event.message or "")
    assert password not in operator.log()
