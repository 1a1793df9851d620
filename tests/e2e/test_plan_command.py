"""`dbindex-operator plan` end to end: the real console script against the real PostgreSQL and API
server. It changes nothing, it prints the SQL the operator then runs (read back from the
PostgreSQL server log), it sees a changed definition as a replacement, and --from-cluster reads
Secrets and live objects from the API server; exit codes 0/1/2/3."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.parse
from pathlib import Path
from typing import Any

import yaml

from dbindex_operator.core import names
from tests.e2e.conftest import Kube, Target, connection, index_facts, invalid_indexes, is_ready, sql

PLANNER = Path(sys.executable).parent / "dbindex-operator"
CREATE = "CREATE INDEX CONCURRENTLY t_email ON public.t USING btree (email)"
# What the server log shows for a statement: simple protocol, or an extended-protocol execute.
LOGGED = re.compile(r"LOG:  (?:statement|execute [^:]*): (.*)$")


def plan(
    env: dict[str, str], *args: str, files: list[Path] | None = None
) -> subprocess.CompletedProcess[str]:
    command = [str(PLANNER), "plan", *(arg for f in files or () for arg in ("-f", str(f))), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def plan_json(
    env: dict[str, str], manifest: Path, *args: str
) -> tuple[int, list[dict[str, Any]], str]:
    result = plan(env, "-o", "json", *args, files=[manifest])
    return result.returncode, json.loads(result.stdout or "[]"), result.stderr


def write_manifest(
    folder: Path, name: str, spec: dict[str, Any], namespace: str | None = None
) -> Path:
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    document = {
        "apiVersion": "dbindex.dev/v1alpha1",
        "kind": "DatabaseIndex",
        "metadata": metadata,
        "spec": spec,
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def email_spec(**fields: Any) -> dict[str, Any]:
    return {"connection": connection(), "table": "t", "columns": [{"column": "email"}], **fields}


def make_table(dsn: str) -> None:
    sql(dsn, "CREATE TABLE t (id int NOT NULL, email text, tenant int)")
    sql(
        dsn,
        "INSERT INTO t SELECT g, 'u' || g || '@example.com', g % 10 "
        "FROM generate_series(1, 5000) g",
    )


def indexes_on_t(dsn: str) -> dict[str, str]:
    rows = sql(
        dsn,
        "SELECT i.relname, pg_get_indexdef(i.oid) AS def FROM pg_index x "
        "JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = 't'::regclass",
    )
    return {row["relname"]: row["def"] for row in rows}


def logged_statements(log: Path, start: int) -> list[str]:
    """The statements the server logged after byte offset `start` of its log."""
    with log.open("rb") as handle:
        handle.seek(start)
        text = handle.read().decode("utf-8", "replace")
    return [m.group(1) for m in map(LOGGED.search, text.splitlines()) if m]


def test_plan_prints_the_build_and_changes_nothing(
    db: Target, local_env: dict[str, str], tmp_path: Path
) -> None:
    make_table(db.dsn)
    manifest = write_manifest(tmp_path, "t-email", email_spec())

    table = plan(local_env, "--dsn", db.dsn, files=[manifest])
    assert table.returncode == 3, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["NAMESPACE/NAME", "INDEX", "ACTION", "DETAIL"]
    assert lines[1].split()[:3] == ["default/t-email", "public.t_email", "build"]
    assert lines[2] == f"    {CREATE};"

    code, rows, _ = plan_json(local_env, manifest, "--dsn", db.dsn)
    assert code == 3
    assert rows == [
        {
            "namespace": "default",
            "name": "t-email",
            "index": "public.t_email",
            "action": "build",
            "detail": "the index does not exist",
            "statements": [CREATE],
            "paused": False,
        }
    ]
    assert index_facts(db.dsn, "t_email") is None
    assert indexes_on_t(db.dsn) == {}
    assert invalid_indexes(db.dsn) == []


def test_plan_prints_the_sql_the_operator_then_runs(
    db: Target, kube: Kube, local_env: dict[str, str], pg_url: str, tmp_path: Path
) -> None:
    make_table(db.dsn)
    dbname = urllib.parse.urlsplit(db.dsn).path.lstrip("/")
    sql(pg_url, f"ALTER DATABASE \"{dbname}\" SET log_statement = 'all'")
    manifest = write_manifest(tmp_path, "t-email", email_spec())
    code, rows, _ = plan_json(local_env, manifest, "--dsn", db.dsn)
    assert (code, rows[0]["action"]) == (3, "build")
    planned = rows[0]["statements"]

    log = Path(local_env["DBINDEX_LOCAL_DIR"]) / "logs" / "postgres.log"
    start = log.stat().st_size
    kube.create(db.namespace, "t-email", email_spec())
    kube.wait(db.namespace, "t-email", is_ready)

    built = [s for s in logged_statements(log, start) if s.startswith("CREATE INDEX")]
    assert built == planned, f"the operator ran {built}, plan printed {planned}"

    code, rows, _ = plan_json(local_env, manifest, "--dsn", db.dsn)
    assert (code, rows[0]["action"], rows[0]["statements"]) == (0, "adopt", [])
    code, rows, _ = plan_json(local_env, manifest, "--from-cluster", "-n", db.namespace)
    assert (code, rows[0]["action"], rows[0]["statements"]) == (0, "nothing", [])
    assert rows[0]["namespace"] == db.namespace


def test_plan_of_a_changed_definition_is_a_replacement(
    db: Target, kube: Kube, local_env: dict[str, str], tmp_path: Path
) -> None:
    make_table(db.dsn)
    kube.create(db.namespace, "t-email", email_spec())
    kube.wait(db.namespace, "t-email", is_ready)
    before = indexes_on_t(db.dsn)
    changed = email_spec(columns=[{"column": "email"}, {"column": "tenant"}])
    manifest = write_manifest(tmp_path, "t-email", changed, namespace=db.namespace)

    code, rows, err = plan_json(local_env, manifest, "--from-cluster")
    new, old = names.replacement("t_email"), names.retired("t_email")
    assert code == 3, err
    assert rows[0]["action"] == "replace"
    assert rows[0]["detail"].startswith("BuildReplacement: keys: want")
    assert rows[0]["statements"] == [
        f"CREATE INDEX CONCURRENTLY {new} ON public.t USING btree (email, tenant)",
        "BEGIN",
        f"ALTER INDEX public.t_email RENAME TO {old}",
        f"ALTER INDEX public.{new} RENAME TO t_email",
        "COMMIT",
        f"DROP INDEX CONCURRENTLY IF EXISTS public.{old}",
    ]
    # Without the live object, the index is someone else's: adoptPolicy Refuse leaves it alone.
    code, rows, _ = plan_json(local_env, manifest, "--dsn", db.dsn)
    assert (code, rows[0]["action"]) == (0, "fail")
    assert rows[0]["detail"].startswith("DefinitionMismatch: a valid index of this name exists")
    assert indexes_on_t(db.dsn) == before


def test_from_cluster_reads_secrets_and_reports_problems(
    db: Target, kube: Kube, local_env: dict[str, str], tmp_path: Path
) -> None:
    make_table(db.dsn)
    good = write_manifest(tmp_path, "t-email", email_spec())
    code, rows, err = plan_json(local_env, good, "--from-cluster", "-n", db.namespace)
    assert code == 3, err
    assert [(r["namespace"], r["action"], r["statements"]) for r in rows] == [
        (db.namespace, "build", [CREATE])
    ]

    missing = write_manifest(tmp_path, "t-missing", email_spec(connection=connection("nope")))
    result = plan(local_env, "--from-cluster", "-n", db.namespace, files=[missing])
    assert result.returncode == 1
    assert f"Secret {db.namespace}/nope does not exist" in result.stdout

    password = "s3cr3t-pw"
    kube.secret(db.namespace, "down", {"dsn": f"postgresql://postgres:{password}@127.0.0.1:1/x"})
    down = write_manifest(tmp_path, "t-down", email_spec(connection=connection("down")))
    result = plan(local_env, "--from-cluster", "-n", db.namespace, "-o", "json", files=[down])
    assert result.returncode == 1
    assert "127.0.0.1:1/x" in json.loads(result.stdout)[0]["detail"]
    assert password not in result.stdout + result.stderr

    invalid = write_manifest(tmp_path, "t-bad", email_spec(columns=[{"column": "email;drop"}]))
    code, rows, err = plan_json(local_env, invalid, "--from-cluster", "-n", db.namespace)
    assert code == 2
    assert rows[0]["action"] == "error"
    assert "not allowed in names" in rows[0]["detail"]
    assert "not allowed in names" in err

    # Several manifests at once: a missing Secret wins over an invalid one and over SQL to run.
    result = plan(local_env, "--from-cluster", "-n", db.namespace, files=[good, invalid, missing])
    assert result.returncode == 1
    assert [line.split()[2] for line in result.stdout.splitlines()[1:] if line[:1] != " "] == [
        "build",
        "error",
        "error",
    ]
