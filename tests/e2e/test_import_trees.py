"""The end state `dbindex-operator import DIR` describes is the one PostgreSQL reaches (integration:
needs `make up`).

Each fixture tree of tests/fixtures/migrations/ (one per migration tool) runs on a fresh database
the way its tool runs it: every up migration in version order, each in a psql session of its own.
The indexes PostgreSQL then holds (besides those behind constraints) must be exactly the
manifests the importer printed: same schema, table and name.
"""

from __future__ import annotations

import io
import subprocess

import pytest
import yaml

from dbindex_operator.tools import importing
from dbindex_operator.tools.importing import layouts
from tests.conftest import REPO_ROOT
from tests.harness import pg

TREES = REPO_ROOT / "tests" / "fixtures" / "migrations"
INDEXES = """
SELECT n.nspname AS schema, t.relname AS table, i.relname AS name
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_namespace n ON n.oid = i.relnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
  AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conindid = x.indexrelid)
"""


@pytest.mark.parametrize("tool", ["sqlx", "flyway", "golang-migrate", "goose", "dbmate", "plain"])
def test_the_manifests_are_the_indexes_the_migrations_leave(
    tool: str, database: str, local_env: dict[str, str]
) -> None:
    tree = layouts.read_tree(str(TREES / tool), None)
    assert tree.tool == tool
    for migration in tree.migrations:  # up sections only, in version order
        ran = subprocess.run(
            ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", database],
            input=migration.sql,
            env=local_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert ran.returncode == 0, f"{migration.path}:\n{ran.stderr}"

    out, err = io.StringIO(), io.StringIO()
    code = importing.run(
        [str(TREES / tool)],
        namespace=None,
        secret="db",
        key=None,
        deletion_policy="Retain",
        stdin=io.StringIO(),
        stdout=out,
        stderr=err,
    )
    assert code == importing.EXIT_OK, err.getvalue()
    manifests = [m["spec"] for m in yaml.safe_load_all(out.getvalue()) if m]
    imported = {(s.get("schema", "public"), s["table"], s["name"]) for s in manifests}
    actual = {(r["schema"], r["table"], r["name"]) for r in pg.query(database, INDEXES)}
    assert imported == actual
    assert len(manifests) == len(imported) > 0
