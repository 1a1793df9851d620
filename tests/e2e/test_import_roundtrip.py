"""`dbindex-operator import` round trip: SQL run directly and the same SQL imported as manifests and
built by the operator must give the same catalog, index by index.

Two databases with the same tables: A runs the SQL as written (psql); B gets the manifests the
importer printed, applied with kubectl into an ``e2e-*`` namespace whose Secret ``db`` points at
B (the ``db`` fixture), and built by the real operator (the ``operator`` fixture). Then, for every
index of A's and B's user schemas: pg_get_indexdef, indisvalid, reloptions and tablespace.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pglast import ast, parser

from tests.conftest import REPO_ROOT, Kubectl, with_database
from tests.e2e.conftest import GROUP, PLURAL, VERSION, Kube, Target, sql

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "roundtrip"
SEED = REPO_ROOT / "examples" / "seed"
IMPORTER = Path(sys.executable).parent / "dbindex-operator"
SEED_SCALE = 3000  # rows of the biggest seed tables: builds of well under a second

CATALOG = """
SELECT n.nspname AS schema, i.relname AS name, x.indisvalid AS valid,
       pg_get_indexdef(x.indexrelid) AS definition,
       coalesce(array_to_string(array(SELECT o FROM unnest(i.reloptions) AS o ORDER BY o), ','), '')
           AS reloptions,
       coalesce(t.spcname, '') AS tablespace
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_namespace n ON n.oid = i.relnamespace
LEFT JOIN pg_tablespace t ON t.oid = i.reltablespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
ORDER BY 1, 2
"""


def catalog(dsn: str) -> dict[tuple[str, str], dict[str, Any]]:
    """Every index in the user schemas of ``dsn``: (schema, name) -> its facts."""
    return {(r["schema"], r["name"]): dict(r) for r in sql(dsn, CATALOG)}


def psql(env: dict[str, str], dsn: str, *args: str, timeout: float = 600) -> str:
    """Run psql (ON_ERROR_STOP) on ``dsn``; return its standard output."""
    result = subprocess.run(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, f"psql {args} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def import_sql(path: Path, namespace: str) -> tuple[list[dict[str, Any]], str, str]:
    """Run the importer the way users do; return the manifests, the YAML text and stderr."""
    result = subprocess.run(
        [str(IMPORTER), "import", str(path), "--namespace", namespace, "--secret", "db"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"import exited {result.returncode}:\n{result.stderr}"
    manifests = [d for d in yaml.safe_load_all(result.stdout) if d]
    return manifests, result.stdout, result.stderr


def wait_all_ready(kube: Kube, namespace: str, names: list[str], timeout: float) -> None:
    """Wait until every object is Ready; fail at once (with its error) when one is Failed."""
    deadline = time.monotonic() + timeout
    phases: dict[str, str | None] = {}
    while time.monotonic() < deadline:
        items = kube.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
        statuses = {o["metadata"]["name"]: o.get("status") or {} for o in items["items"]}
        phases = {n: statuses.get(n, {}).get("phase") for n in names}
        # Retrying is not fatal: a build can lose a deadlock (40P01) to another session's
        # CREATE INDEX CONCURRENTLY and then succeed on its next attempt.
        failed = {n: statuses[n].get("lastError") for n in names if phases[n] == "Failed"}
        assert not failed, f"builds failed: {failed}"
        if all(p == "Ready" for p in phases.values()):
            return
        time.sleep(0.5)
    waiting = {n: p for n, p in phases.items() if p != "Ready"}
    raise AssertionError(f"not Ready after {timeout:.0f}s: {waiting}")


def _with_sorted(definition: str) -> str:
    """``definition`` with the items of its WITH (...) list in name order."""
    match = re.search(r" WITH \((.*?)\)(?= TABLESPACE | WHERE |$)", definition)
    if not match:
        return definition
    items = ", ".join(sorted(match.group(1).split(", ")))
    return definition[: match.start(1)] + items + definition[match.end(1) :]


def assert_same_catalogs(direct: str, operated: str, *, with_order: bool = True) -> int:
    """The two databases hold the same indexes with the same facts; return how many.

    ``with_order=False`` accepts definitions whose WITH (...) lists differ in order only (the
    operator writes storage parameters in name order: a map has no order)."""
    a, b = catalog(direct), catalog(operated)
    if not with_order:
        for facts in (*a.values(), *b.values()):
            facts["definition"] = _with_sorted(facts["definition"])
    assert sorted(b) == sorted(a), "the two databases hold different sets of indexes"
    differences = {key: (a[key], b[key]) for key in a if a[key] != b[key]}
    assert not differences, "indexes that differ (psql, operator):\n" + "\n".join(
        f"  {key}:\n    {pa}\n    {pb}" for key, (pa, pb) in differences.items()
    )
    assert all(facts["valid"] for facts in a.values())
    return len(a)


@pytest.fixture
def direct_db(pg_url: str) -> Iterator[str]:
    """Database A, where the SQL runs as written: a fresh, empty database."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    sql(pg_url, f'CREATE DATABASE "{name}"')
    yield with_database(pg_url, name)
    sql(pg_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_corpus_round_trips_through_the_operator(
    db: Target,
    direct_db: str,
    kube: Kube,
    kubectl: Kubectl,
    local_env: dict[str, str],
    tmp_path: Path,
) -> None:
    corpus, schema = FIXTURES / "corpus.sql", FIXTURES / "schema.sql"
    version = int(sql(db.dsn, "SELECT current_setting('server_version_num')::int AS v")[0]["v"])
    if version < 150000:
        # NULLS NOT DISTINCT is PostgreSQL 15's: 14 rejects it (psql) and the operator refuses
        # it with its own message (test_compat.py); the rest of the corpus is the same.
        corpus = tmp_path / "corpus-14.sql"
        text = (FIXTURES / "corpus.sql").read_text()
        corpus.write_text(re.sub(r"\s*NULLS NOT DISTINCT(?=[;\s])", "", text))
        assert "NULLS NOT DISTINCT" not in re.sub(r"--.*", "", corpus.read_text())
    for dsn in (direct_db, db.dsn):
        psql(local_env, dsn, "-f", str(schema))

    manifests, text, notes = import_sql(corpus, db.namespace)
    parsed = parser.parse_sql(corpus.read_text())
    statements = sum(isinstance(raw.stmt, ast.IndexStmt) for raw in parsed)
    assert len(manifests) == statements >= 40
    assert "skipped SET statement" in notes
    methods = {m["spec"].get("method", "btree") for m in manifests}
    assert methods == {"btree", "hash", "gist", "spgist", "gin", "brin"}

    psql(local_env, direct_db, "-f", str(corpus))
    kubectl("apply", "-f", "-", input=text)
    wait_all_ready(kube, db.namespace, [m["metadata"]["name"] for m in manifests], timeout=300)

    compared = assert_same_catalogs(direct_db, db.dsn, with_order=False)
    # The corpus' indexes plus the primary keys of schema.sql.
    assert compared == len(manifests) + 2


def test_runbook_imports_to_the_seed_and_builds_like_psql(
    db: Target, direct_db: str, kube: Kube, kubectl: Kubectl, local_env: dict[str, str]
) -> None:
    runbook = SEED / "runbook.sql"
    manifests, text, _ = import_sql(runbook, db.namespace)
    seed = [d for d in yaml.safe_load_all((SEED / "indexes.yaml").read_text()) if d]
    assert len(manifests) == 12
    assert [m["metadata"]["name"] for m in manifests] == [s["metadata"]["name"] for s in seed]
    assert [m["spec"]["name"] for m in manifests] == [s["spec"]["name"] for s in seed]

    dry_run = kubectl("apply", "--dry-run=server", "-f", "-", input=text).stdout
    assert dry_run.count("created (server dry run)") == 12, dry_run
    assert kubectl("get", "dbindex", "-n", db.namespace, "-o", "name").stdout.strip() == ""

    for dsn in (direct_db, db.dsn):
        psql(local_env, dsn, "-f", str(SEED / "schema.sql"))
        psql(local_env, dsn, "-v", f"scale={SEED_SCALE}", "-f", str(SEED / "generate.sql"))

    psql(local_env, direct_db, "-f", str(runbook))
    kubectl("apply", "-f", "-", input=text)
    wait_all_ready(kube, db.namespace, [m["metadata"]["name"] for m in manifests], timeout=180)

    # The twelve indexes plus the eight primary keys of schema.sql.
    assert assert_same_catalogs(direct_db, db.dsn) == 12 + 8
    for manifest in manifests:
        status = kube.status(db.namespace, manifest["metadata"]["name"])
        assert status["index"]["valid"] is True
        assert status["index"]["name"] == manifest["spec"]["name"]


SINGLE_STATEMENTS = [
    pytest.param(
        # A map has no order (the API server stores it sorted), so the operator writes storage
        # parameters in name order: the same reloptions, the WITH list in another order.
        "CREATE INDEX t_a_ff ON t (a) WITH (fillfactor = 70, deduplicate_items = on)",
        False,
        id="storage-parameter-order",
    ),
    pytest.param(
        # pg_catalog is always searched first, so the importer drops that qualification.
        'CREATE INDEX t_a_c ON t (a COLLATE pg_catalog."C")',
        True,
        id="pg-catalog-collation",
    ),
    pytest.param(
        'CREATE INDEX t_a_c2 ON t (a COLLATE "C" DESC NULLS LAST)',
        True,
        id="collation-with-order",
    ),
]


@pytest.mark.parametrize(("statement", "same_text"), SINGLE_STATEMENTS)
def test_single_statements_round_trip(
    statement: str,
    same_text: bool,
    db: Target,
    direct_db: str,
    kube: Kube,
    kubectl: Kubectl,
    local_env: dict[str, str],
    tmp_path: Path,
) -> None:
    """Statements whose round trip has a subtlety of its own."""
    for dsn in (direct_db, db.dsn):
        sql(dsn, "CREATE TABLE t (a text)")
        sql(dsn, "INSERT INTO t SELECT 'v' || g FROM generate_series(1, 100) AS g")
    migration = tmp_path / "migration.sql"
    migration.write_text(statement + ";\n")
    manifests, text, _ = import_sql(migration, db.namespace)
    psql(local_env, direct_db, "-f", str(migration))
    kubectl("apply", "-f", "-", input=text)
    wait_all_ready(kube, db.namespace, [m["metadata"]["name"] for m in manifests], timeout=60)
    assert assert_same_catalogs(direct_db, db.dsn, with_order=same_text) == 1
