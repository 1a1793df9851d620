"""The operator builds an imported migration TREE exactly as psql builds it (issue #20: "the
operator building an imported tree of >= 20 indexes end to end with every definition equal to
psql's"; integration: needs `make up`).

For each tree of tests/fixtures/migrations/ (``full``: 31 indexes over five tables in three
schemas, every access method, UNIQUE, partial, expression, INCLUDE, DESC/NULLS, COLLATE,
operator classes, storage parameters, schema-qualified and
search_path-resolved tables (SET, RESET, SET LOCAL, set_config; a same-named decoy table in
public must not get the indexes), unnamed indexes, psql
meta-commands, and a last migration that drops, renames and moves things; and the small tree of
each migration tool):

- database A runs the tree as its tool would: every up migration in version order, each in a
  psql session of its own;
- database B runs the same tree, then loses every index that is not behind a constraint (so it
  holds the same tables, rows and constraints, and none of the indexes), then gets the manifests
  ``dbindex-operator import DIR`` printed, applied with kubectl into a namespace whose Secret
  points at B, built by the real operator until every object is Ready;
- every index of A (besides those behind constraints) must exist in B under the same schema and
  name, valid, with the same ``pg_get_indexdef`` string, and there must be nothing else.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from dbindex_operator.tools.importing import layouts
from tests.conftest import REPO_ROOT, Kubectl, with_database
from tests.e2e.conftest import Kube, Target, sql
from tests.e2e.test_import_roundtrip import import_sql, wait_all_ready

TREES = REPO_ROOT / "tests" / "fixtures" / "migrations"
INDEXES = """
SELECT n.nspname AS schema, i.relname AS name, x.indisvalid AS valid,
       pg_get_indexdef(x.indexrelid) AS definition
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_namespace n ON n.oid = i.relnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
  AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conindid = x.indexrelid)
"""


def indexes(dsn: str) -> dict[tuple[str, str], dict[str, Any]]:
    """(schema, name) -> validity and pg_get_indexdef of every index not behind a constraint."""
    return {(r["schema"], r["name"]): dict(r) for r in sql(dsn, INDEXES)}


def psql(env: dict[str, str], dsn: str, script: str) -> None:
    """Run ``script`` with psql (ON_ERROR_STOP) on ``dsn``, in a session of its own."""
    result = subprocess.run(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn],
        env=env,
        input=script,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"psql failed:\n{result.stdout}\n{result.stderr}"


@pytest.fixture
def direct_db(pg_url: str) -> Iterator[str]:
    """Database A, where psql runs the tree: a fresh, empty database."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    sql(pg_url, f'CREATE DATABASE "{name}"')
    yield with_database(pg_url, name)
    sql(pg_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.parametrize("tree", ["full", *layouts.TOOLS])
def test_the_operator_builds_an_imported_tree_as_psql_does(
    tree: str,
    db: Target,
    direct_db: str,
    kube: Kube,
    kubectl: Kubectl,
    local_env: dict[str, str],
) -> None:
    directory = TREES / tree
    migrations = layouts.read_tree(str(directory), None)
    assert migrations.tool == ("plain" if tree == "full" else tree)
    for dsn in (direct_db, db.dsn):
        for migration in migrations.migrations:
            psql(local_env, dsn, migration.sql)
    expected = indexes(direct_db)
    assert all(facts["valid"] for facts in expected.values())

    for schema, name in indexes(db.dsn):
        sql(db.dsn, f'DROP INDEX "{schema}"."{name}"')
    assert indexes(db.dsn) == {}, "B must leave the indexes to the operator"

    manifests, text, _ = import_sql(directory, db.namespace)
    imported = {(m["spec"].get("schema", "public"), m["spec"]["name"]) for m in manifests}
    assert imported == set(expected), "the manifests are not the indexes the tree leaves"
    assert len(imported) == len(manifests)
    if tree == "full":
        assert len(manifests) >= 20
        methods = {m["spec"].get("method", "btree") for m in manifests}
        assert methods == {"btree", "hash", "gist", "spgist", "gin", "brin"}

    kubectl("apply", "-f", "-", input=text)
    names = [m["metadata"]["name"] for m in manifests]
    wait_all_ready(kube, db.namespace, names, timeout=900)

    built = indexes(db.dsn)
    assert sorted(built) == sorted(expected)
    differences = {
        key: (expected[key]["definition"], built[key]["definition"])
        for key in expected
        if expected[key] != built[key]
    }
    assert not differences, "definitions that differ (psql, operator):\n" + "\n".join(
        f"  {key}:\n    {a}\n    {b}" for key, (a, b) in differences.items()
    )
