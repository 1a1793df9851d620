"""`dbindex-operator lint` (issue #20, part 4): findings, exit codes and output formats on one
fixture tree per tool under tests/fixtures/lint/. Pure: no server."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from dbindex_operator import cli
from dbindex_operator.tools import linting

LINT = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "lint"


def lint(*paths: str | Path, output: str = "text", sql: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = linting.run(
        [str(p) for p in paths], output=output, stdin=io.StringIO(sql), stdout=out, stderr=err
    )
    return code, out.getvalue(), err.getvalue()


def found(*paths: str | Path) -> list[tuple[str, int, str]]:
    code, out, _ = lint(*paths, output="json")
    rows = json.loads(out)
    assert code == (3 if rows else 0)
    return [(Path(r["file"]).name, r["line"], r["rule"]) for r in rows]


@pytest.mark.parametrize(
    ("tree", "expected"),
    [
        (
            "sqlx",
            [
                ("2_lock.sql", 1, "create-index-not-concurrent"),
                ("3_wrapped.sql", 1, "concurrently-in-transaction"),
            ],
        ),
        ("flyway", [("V1__wrapped.sql", 1, "concurrently-in-transaction")]),
        (
            "goose",
            [
                ("00001_wrapped.sql", 2, "concurrently-in-transaction"),
                ("00002_off.sql", 3, "concurrent-if-not-exists"),
            ],
        ),
        (
            "dbmate",
            [
                ("20240101000000_wrapped.sql", 2, "concurrently-in-transaction"),
                ("20240102000000_off.sql", 3, "reindex-not-concurrent"),
            ],
        ),
        (
            "golang-migrate",
            [
                ("1_a.up.sql", 2, "drop-index-not-concurrent"),
                ("2_b.up.sql", 2, "concurrently-in-transaction"),
            ],
        ),
        ("clean", []),
    ],
)
def test_findings_per_tool(tree: str, expected: list[tuple[str, int, str]]) -> None:
    assert found(LINT / tree) == expected


@pytest.mark.parametrize(
    ("sql", "rule"),
    [
        ("CREATE INDEX i ON t (a);", "create-index-not-concurrent"),
        ("BEGIN;\nCREATE INDEX CONCURRENTLY i ON t (a);\nCOMMIT;", "concurrently-in-transaction"),
        ("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a);", "concurrent-if-not-exists"),
        ("REINDEX INDEX i;", "reindex-not-concurrent"),
        ("REINDEX TABLE t;", "reindex-not-concurrent"),
        ("DROP INDEX i;", "drop-index-not-concurrent"),
        ("DROP INDEX IF EXISTS s.i;", "drop-index-not-concurrent"),
    ],
)
def test_each_rule(sql: str, rule: str) -> None:
    code, out, _ = lint("-", output="json", sql=sql)
    assert code == 3
    assert [r["rule"] for r in json.loads(out)] == [rule]


@pytest.mark.parametrize(
    "sql",
    [
        "CREATE INDEX CONCURRENTLY i ON t (a);",
        "REINDEX INDEX CONCURRENTLY i;",
        "DROP INDEX CONCURRENTLY i;",
        "\\set ON_ERROR_STOP on\nCREATE INDEX CONCURRENTLY i ON t (a);",
        # a table created earlier in the same migration locks nobody
        "CREATE TABLE t (a int);\nCREATE INDEX i ON t (a);\nREINDEX INDEX i;\nDROP INDEX i;",
        # ON ONLY builds nothing
        "CREATE INDEX i ON ONLY t (a);",
    ],
)
def test_clean_statements(sql: str) -> None:
    assert lint("-", sql=sql)[:2] == (0, "")


def test_a_table_created_in_an_earlier_migration_is_not_exempt(tmp_path: Path) -> None:
    (tmp_path / "1_t.sql").write_text("CREATE TABLE t (a int);\n")
    (tmp_path / "2_i.sql").write_text("CREATE INDEX i ON t (a);\n")
    assert found(tmp_path) == [("2_i.sql", 1, "create-index-not-concurrent")]


def test_text_output_has_the_suggested_manifest() -> None:
    code, out, _ = lint(LINT / "sqlx" / "2_lock.sql")
    assert code == 3
    lines = out.splitlines()
    assert lines[0].startswith(f"{LINT / 'sqlx' / '2_lock.sql'}:1: create-index-not-concurrent: ")
    assert lines[1] == "    suggested manifest:"
    assert "      kind: DatabaseIndex" in lines
    assert "        name: orders_id" in lines


def test_json_output() -> None:
    code, out, _ = lint(LINT / "sqlx", output="json")
    rows = json.loads(out)
    assert code == 3
    assert rows[0]["suggestion"]["spec"]["name"] == "orders_id"
    assert rows[0]["suggestion"]["metadata"]["annotations"]["dbindex.dev/migration"] == "2"
    assert set(rows[0]) == {"file", "line", "rule", "message", "suggestion"}


def test_github_output() -> None:
    code, out, _ = lint("-", output="github", sql="DROP INDEX i;")
    assert code == 3
    assert out.startswith("::error file=<stdin>,line=1,title=drop-index-not-concurrent::DROP INDEX")


def test_exit_codes_for_bad_input(tmp_path: Path) -> None:
    assert lint()[0] == linting.EXIT_USAGE
    assert lint(tmp_path / "missing.sql")[0] == linting.EXIT_UNREADABLE
    code, _, err = lint("-", sql="CREATE INDEX ON;")
    assert code == linting.EXIT_UNREADABLE
    assert "syntax error" in err


def test_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["lint", str(LINT / "clean")]) == 0
    assert cli.main(["lint", "-o", "json", str(LINT / "flyway")]) == 3
    with pytest.raises(SystemExit) as exc:
        cli.main(["lint", "-o", "xml", str(LINT / "clean")])
    assert exc.value.code == 1
    capsys.readouterr()
