"""`lint`'s concurrently-in-transaction rule agrees with PostgreSQL (integration: needs `make up`).

Every migration of every fixture tree under tests/fixtures/lint/ runs on a real PostgreSQL the
way its tool sends it (written down here from each tool's own behaviour, not from the linter's
code): inside a transaction the tool opens, as ONE query string (golang-migrate's and dbmate's
``Exec`` of the whole file / up section, sqlx's ``execute`` of a ``-- no-transaction`` file), or
statement by statement
(psql, goose without a transaction, flyway without one or when it recognises a statement that
cannot run in one). PostgreSQL must refuse exactly the files the linter flags with
concurrently-in-transaction, with SQLSTATE 25001 (the golang-migrate file of two statements
included: a query string of several statements is one implicit transaction), and run every other
file; a Flyway script mixing statements Flyway runs outside a transaction with others counts as
refused (Flyway refuses it before PostgreSQL sees it, unless mixed=true).
"""

from __future__ import annotations

import io
import json
import re
import subprocess
from pathlib import Path

import pglast
import pytest

from dbindex_operator.tools import linting
from dbindex_operator.tools.importing import layouts
from tests.harness import pg
from tests.unit.test_lint import EXPECTED, LINT

# The tables each tree uses without creating them.
SETUP = {
    "flyway": "CREATE TABLE payments (a int, b int, c int);",
    "goose": "CREATE TABLE posts (a int, b int);",
    "dbmate": "CREATE TABLE tickets (a int, b int, c int); CREATE INDEX t_a ON tickets (a);",
    "golang-migrate": "CREATE TABLE users (a int, b int, c int); CREATE INDEX u_old ON users (a);",
}
WRAPPED, ONE_QUERY, ONE_BY_ONE = "wrapped", "one query", "one by one"
# Flyway refuses a script mixing statements it must run outside a transaction with others
# (unless mixed=true): it never reaches PostgreSQL.
FLYWAY_REFUSES = "flyway refuses it"
SQLSTATE = re.compile(r"^ERROR:  ([0-9A-Z]{5}):", re.MULTILINE)
# Flyway's PostgreSQLParser: the statements it runs outside a transaction (on the statement text
# upper-cased, comments dropped, whitespace collapsed).
FLYWAY_NON_TRANSACTIONAL = re.compile(
    r"^((CREATE|DROP)( UNIQUE)? INDEX CONCURRENTLY|REINDEX( VERBOSE)? (SCHEMA|DATABASE|SYSTEM)"
    r"|VACUUM|DISCARD ALL|ALTER SYSTEM|(CREATE|DROP) (DATABASE|TABLESPACE|SUBSCRIPTION))"
)


def flyway_runs(raw: str) -> str:
    """How Flyway runs a script without executeInTransaction=false."""
    text = "\n".join(line for line in raw.splitlines() if not line.lstrip().startswith("--"))
    kinds = {
        bool(FLYWAY_NON_TRANSACTIONAL.match(" ".join(s.upper().split())))
        for s in pglast.split(text)
    }
    if kinds == {True, False}:
        return FLYWAY_REFUSES
    return ONE_BY_ONE if kinds == {True} else WRAPPED


def how_the_tool_runs(tool: str, path: Path) -> str:
    raw = path.read_text()
    first = raw.splitlines()[0] if raw else ""
    if tool == "golang-migrate":
        return ONE_QUERY
    if tool == "dbmate":
        return ONE_QUERY if "transaction:false" in first else WRAPPED
    if tool == "sqlx":
        return ONE_QUERY if first.startswith("-- no-transaction") else WRAPPED
    if tool == "flyway":
        conf = path.with_name(path.name + ".conf")
        off = "executeInTransaction=false" in raw + (conf.read_text() if conf.exists() else "")
        return ONE_BY_ONE if off else flyway_runs(raw)
    if tool == "goose":
        return ONE_BY_ONE if "+goose NO TRANSACTION" in raw else WRAPPED
    return ONE_BY_ONE  # plain: psql -f


def run(env: dict[str, str], dsn: str, sql: str, how: str) -> str | None:
    """Run ``sql`` as ``how`` says; the SQLSTATE of its error, None if it ran."""
    if how == FLYWAY_REFUSES:
        return how
    command = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-v", "VERBOSITY=verbose", "-d", dsn]
    if how == ONE_QUERY:
        result = subprocess.run(
            [*command, "-c", sql], env=env, capture_output=True, text=True, timeout=120
        )
    else:
        script = f"BEGIN;\n{sql}\n;COMMIT;\n" if how == WRAPPED else sql
        result = subprocess.run(
            command, env=env, input=script, capture_output=True, text=True, timeout=120
        )
    if result.returncode == 0:
        return None
    found = SQLSTATE.search(result.stderr)
    assert found, result.stderr
    return found.group(1)


def flagged(directory: Path) -> set[str]:
    out = io.StringIO()
    linting.run(
        [str(directory)], output="json", stdin=io.StringIO(), stdout=out, stderr=io.StringIO()
    )
    rows = json.loads(out.getvalue())
    return {r["file"] for r in rows if r["rule"] == "concurrently-in-transaction"}


@pytest.mark.parametrize("tree", sorted(EXPECTED))
def test_postgresql_refuses_exactly_what_lint_flags(
    tree: str, database: str, local_env: dict[str, str]
) -> None:
    directory = LINT / tree
    if tree in SETUP:
        pg.execute(database, SETUP[tree])
    parsed = layouts.read_tree(str(directory), None)
    refused: dict[str, str] = {}
    for migration in parsed.migrations:
        how = how_the_tool_runs(parsed.tool, Path(migration.path))
        sqlstate = run(local_env, database, migration.sql, how)
        if sqlstate is not None:
            refused[migration.path] = sqlstate
    assert set(refused) == flagged(directory)
    assert set(refused.values()) <= {"25001", FLYWAY_REFUSES}
    if tree == "golang-migrate":
        assert str(directory / "1_a.up.sql") in refused  # two statements, no BEGIN in it
        assert str(directory / "3_c.up.sql") not in refused
