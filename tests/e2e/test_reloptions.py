"""Storage parameters end to end: a value PostgreSQL would refuse is refused where the spec is
parsed, so no SQL for it ever reaches the server (read back from the server log), and the
validator's table (tests/unit/test_reloptions.py) agrees with the real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from dbindex_operator.core import errors, reloptions
from dbindex_operator.core import sql as sqltext
from tests.e2e.conftest import (
    GROUP,
    VERSION,
    Kube,
    Target,
    connection,
    index_facts,
    invalid_indexes,
    is_ready,
    sql,
)
from tests.e2e.test_plan_command import logged_statements, plan, plan_json, write_manifest
from tests.harness.kube import Kubectl
from tests.unit.test_reloptions import ALL_NAMES, CASES, KNOWN

# A column each access method can index with its default operator class.
COLUMN = {"btree": "i", "hash": "i", "brin": "i", "gist": "p", "spgist": "p", "gin": "a"}


def _degraded(status: dict[str, Any]) -> dict[str, Any]:
    return next((c for c in status.get("conditions", []) if c["type"] == "Degraded"), {})


def test_a_rejected_value_never_reaches_postgresql(
    db: Target, kube: Kube, local_env: dict[str, str], pg_url: str, tmp_path: Path
) -> None:
    sql(db.dsn, "CREATE TABLE t (id int NOT NULL, email text)")
    sql(db.dsn, "INSERT INTO t SELECT g, 'u' || g || '@example.com' FROM generate_series(1, 500) g")
    dbname = urllib.parse.urlsplit(db.dsn).path.lstrip("/")
    sql(pg_url, f"ALTER DATABASE \"{dbname}\" SET log_statement = 'all'")
    log = Path(local_env["DBINDEX_LOCAL_DIR"]) / "logs" / "postgres.log"
    index = f"t_ff_{uuid.uuid4().hex[:8]}"
    spec = {
        "connection": connection(),
        "table": "t",
        "name": index,
        "columns": [{"column": "email"}],
        "storageParameters": {"fillfactor": "9"},
    }
    start = log.stat().st_size

    kube.create(db.namespace, "t-email", spec)
    status = kube.wait(
        db.namespace,
        "t-email",
        lambda s: s.get("phase") == "Failed" and _degraded(s).get("reason") == "InvalidSpec",
        timeout=30,
        what="Failed/InvalidSpec",
    )
    assert "storageParameters.fillfactor must be an integer from 10 to 100" in str(
        _degraded(status).get("message")
    ), status
    # `plan` refuses the same manifest: exit 2, an error row, no SQL.
    manifest = write_manifest(tmp_path, "t-email", spec)
    code, rows, _ = plan_json(local_env, manifest, "--dsn", db.dsn)
    assert code == 2
    assert (rows[0]["action"], rows[0]["statements"]) == ("error", [])
    assert "fillfactor" in rows[0]["detail"]
    assert plan(local_env, "--dsn", db.dsn, files=[manifest]).returncode == 2

    refused = logged_statements(log, start)
    assert not [s for s in refused if "CREATE INDEX" in s.upper() and index in s], refused
    assert not [s for s in refused if "fillfactor = '9'" in s], refused
    assert index_facts(db.dsn, index) is None
    assert invalid_indexes(db.dsn) == []

    # The control: the log does show this database's DDL once the value is one PostgreSQL takes.
    fixed = log.stat().st_size
    kube.patch(db.namespace, "t-email", {"spec": {"storageParameters": {"fillfactor": "10"}}})
    kube.wait(db.namespace, "t-email", is_ready, timeout=60)
    created = [s for s in logged_statements(log, fixed) if s.startswith("CREATE INDEX")]
    built = [s for s in created if s.startswith("CREATE INDEX CONCURRENTLY")]
    assert built == [
        f"CREATE INDEX CONCURRENTLY {index} ON public.t USING btree (email) "
        "WITH (fillfactor = '10')"
    ], created
    # Besides the build, only the definition check on a scratch table (executors/probe.py).
    assert all("pg_temp." in s for s in created if s not in built), created
    facts = index_facts(db.dsn, index)
    assert facts is not None and facts["valid"]
    assert "fillfactor='10'" in facts["def"]


def _postgres_accepts(dsn: str, statements: list[str]) -> list[bool]:
    """Run each CREATE INDEX in its own rolled-back transaction; did PostgreSQL accept it?"""

    async def run() -> list[bool]:
        conn = await asyncpg.connect(dsn, statement_cache_size=0)
        try:
            await conn.execute("CREATE TABLE t (i int, p point, a int[])")
            outcome = []
            for statement in statements:
                transaction = conn.transaction()
                await transaction.start()
                try:
                    await conn.execute(statement)
                    outcome.append(True)
                except asyncpg.InvalidParameterValueError:
                    outcome.append(False)
                finally:
                    await transaction.rollback()
            return outcome
        finally:
            await conn.close()

    return asyncio.run(run())


def _ours(method: str, name: str, value: str) -> bool:
    try:
        reloptions.check(method, name, value)
    except errors.SpecError:
        return False
    return True


@pytest.mark.parametrize("method", sorted(KNOWN))  # one round per method: readable failures
def test_the_table_agrees_with_postgresql(database: str, method: str) -> None:
    cases = [(name, value) for m, name, value, _ in CASES if m == method and value]
    cases += [(name, "on") for name in ALL_NAMES if name not in KNOWN[method]]
    cases += [(name, "1") for name in ("autovacuum_enabled", "parallel_workers")]
    statements = [
        f"CREATE INDEX x ON t USING {method} ({COLUMN[method]}) "
        f"WITH ({name} = {sqltext.literal(value)})"
        for name, value in cases
    ]
    theirs = _postgres_accepts(database, statements)
    assert set(theirs) == {True, False}, "every method has values on both sides"
    disagreements = [
        (name, value, "postgres" if accepted else "not postgres")
        for (name, value), accepted in zip(cases, theirs, strict=True)
        if accepted != _ours(method, name, value)
    ]
    assert disagreements == [], f"{method}: accepted by only one side: {disagreements}"


def test_the_crd_refuses_names_no_method_has_and_takes_the_examples(
    kubectl: Kubectl, namespace: str
) -> None:
    for example in ("full.yaml", "gin.yaml", "include.yaml"):
        path = Path(__file__).resolve().parents[2] / "examples" / example
        kubectl("apply", "--dry-run=server", "-n", namespace, "-f", str(path))
    document = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "DatabaseIndex",
        "metadata": {"name": "unknown-parameter"},
        "spec": {
            "connection": connection(),
            "table": "t",
            "columns": [{"column": "a"}],
            "storageParameters": {"fillfactor": "90", "autovacuum_enabled": "off"},
        },
    }
    result = kubectl(
        "create", "--dry-run=server", "-n", namespace, "-f", "-",
        input=json.dumps(document), check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "storageParameters keys must be index storage parameters" in result.stderr
