"""`dbindex-operator lint` (issue #20, part 4): findings, exit codes and output formats on one
fixture tree per tool under tests/fixtures/lint/. Pure: no server."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from dbindex_operator import cli
from dbindex_operator.tools import linting
from dbindex_operator.tools.importing import layouts

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


# The findings on each tool's fixture tree, in order: (file name, line, rule).
EXPECTED: dict[str, list[tuple[str, int, str]]] = {
    "sqlx": [
        ("2_lock.sql", 1, "create-index-not-concurrent"),
        ("3_wrapped.sql", 1, "concurrently-in-transaction"),
        # -- no-transaction, but the file goes to the server as one query of two statements
        ("5_two.sql", 2, "concurrently-in-transaction"),
    ],
    "flyway": [
        # V1 (CONCURRENTLY alone): Flyway recognises it and runs the script unwrapped
        ("V4__mixed.sql", 2, "concurrently-in-transaction"),  # Flyway refuses the mixture
        ("V5__reindex.sql", 2, "concurrently-in-transaction"),  # not recognised: wrapped
    ],
    "goose": [
        ("00001_wrapped.sql", 2, "concurrently-in-transaction"),
        ("00002_off.sql", 3, "concurrent-if-not-exists"),
    ],
    "dbmate": [
        ("20240101000000_wrapped.sql", 2, "concurrently-in-transaction"),
        # transaction:false, but the up section goes to the server as one query
        ("20240103000000_two.sql", 2, "concurrently-in-transaction"),
        ("20240103000000_two.sql", 3, "reindex-not-concurrent"),
    ],
    "golang-migrate": [
        # one query string of two statements: an implicit transaction
        ("1_a.up.sql", 1, "concurrently-in-transaction"),
        ("1_a.up.sql", 2, "drop-index-not-concurrent"),
        ("2_b.up.sql", 2, "concurrently-in-transaction"),  # BEGIN
        ("2_b.up.sql", 4, "concurrently-in-transaction"),  # after COMMIT, same query
    ],
    "plain": [
        ("2-lock.sql", 2, "create-index-not-concurrent"),
        ("10-concurrently.sql", 5, "concurrently-in-transaction"),
    ],
    "clean": [],
}


@pytest.mark.parametrize(("tree", "expected"), EXPECTED.items())
def test_findings_per_tool(tree: str, expected: list[tuple[str, int, str]]) -> None:
    assert found(LINT / tree) == expected


def test_every_tool_has_a_fixture_tree() -> None:
    assert set(EXPECTED) == {*layouts.TOOLS, "clean"}
    for tool in layouts.TOOLS:
        assert layouts.read_tree(str(LINT / tool), None).tool == tool


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


ONE_QUERY = "concurrently-in-transaction"


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        pytest.param(
            {"1_a.up.sql": "-- why\nCREATE INDEX CONCURRENTLY i ON t (a);\n-- done\n"},
            [],
            id="golang-migrate-alone-comments-do-not-count",
        ),
        pytest.param(
            {"1_a.up.sql": "ALTER TABLE t ADD b int;\nCREATE INDEX CONCURRENTLY i ON t (b);\n"},
            [("1_a.up.sql", 2, ONE_QUERY)],
            id="golang-migrate-two-statements",
        ),
        pytest.param(
            {"1_a.up.sql": "DROP INDEX CONCURRENTLY i;\nSELECT 1;\n", "1_a.down.sql": "x"},
            [("1_a.up.sql", 1, ONE_QUERY)],
            id="golang-migrate-drop-concurrently",
        ),
        pytest.param(
            {
                "20240101000000_a.sql": "-- migrate:up transaction:false\n"
                "CREATE INDEX CONCURRENTLY i ON t (a);\nSELECT 1;\n-- migrate:down\n"
            },
            [("20240101000000_a.sql", 2, ONE_QUERY)],
            id="dbmate-transaction-false-two-statements",
        ),
        pytest.param(
            {
                "20240101000000_a.sql": "-- migrate:up transaction:false\n"
                "CREATE INDEX CONCURRENTLY i ON t (a);\n-- migrate:down\nDROP INDEX i;\nSELECT 1;\n"
            },
            [],
            id="dbmate-down-statements-do-not-count",
        ),
        pytest.param(
            {
                "1_a.sql": "-- no-transaction\nALTER TABLE t ADD b int;\n"
                "CREATE INDEX CONCURRENTLY i ON t (b);\n"
            },
            [("1_a.sql", 3, ONE_QUERY)],
            id="sqlx-no-transaction-two-statements",
        ),
        pytest.param(
            {"1_a.sql": "-- no-transaction\nCREATE INDEX CONCURRENTLY i ON t (b);\n"},
            [],
            id="sqlx-no-transaction-alone",
        ),
        pytest.param(
            {
                "00001_a.sql": "-- +goose NO TRANSACTION\n-- +goose Up\n"
                "ALTER TABLE t ADD b int;\nCREATE INDEX CONCURRENTLY i ON t (b);\n"
            },
            [],
            id="goose-sends-statements-one-by-one",
        ),
        pytest.param(
            {
                "V1__a.sql": "-- flyway:executeInTransaction=false\n"
                "ALTER TABLE t ADD b int;\nCREATE INDEX CONCURRENTLY i ON t (b);\n"
            },
            [],
            id="flyway-sends-statements-one-by-one",
        ),
    ],
)
def test_one_query_of_several_statements_is_a_transaction(
    files: dict[str, str], expected: list[tuple[str, int, str]], tmp_path: Path
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    assert found(tmp_path) == expected


@pytest.mark.parametrize(
    ("sql", "lines"),
    [
        pytest.param("CREATE INDEX CONCURRENTLY i ON t (a);", [], id="alone"),
        pytest.param(
            "CREATE UNIQUE INDEX CONCURRENTLY i ON t (a);\nDROP INDEX CONCURRENTLY j;",
            [],
            id="only-statements-flyway-recognises",
        ),
        pytest.param("VACUUM t;\nCREATE INDEX CONCURRENTLY i ON t (a);", [], id="vacuum"),
        pytest.param("REINDEX SCHEMA CONCURRENTLY s;", [], id="reindex-schema"),
        pytest.param("ANALYZE t;\nCREATE INDEX CONCURRENTLY i ON t (a);", [2], id="mixed"),
        pytest.param("REINDEX INDEX CONCURRENTLY i;", [1], id="reindex-index-is-wrapped"),
        pytest.param(
            "CREATE INDEX CONCURRENTLY i ON t (a);\nREINDEX TABLE CONCURRENTLY t;",
            [1, 2],
            id="reindex-table-mixes",
        ),
        pytest.param(
            "-- flyway:executeInTransaction=false\nANALYZE t;\nREINDEX INDEX CONCURRENTLY i;",
            [],
            id="explicitly-unwrapped",
        ),
    ],
)
def test_flyway_unwraps_a_script_of_statements_it_recognises(
    sql: str, lines: list[int], tmp_path: Path
) -> None:
    (tmp_path / "V1__a.sql").write_text(sql + "\n")
    assert found(tmp_path) == [("V1__a.sql", line, ONE_QUERY) for line in lines]


def test_the_flyway_mixture_message_names_the_ordinary_statement() -> None:
    code, out, _ = lint(LINT / "flyway", output="json")
    assert code == 3
    message = json.loads(out)[0]["message"]
    assert "line 1 is not" in message
    assert "mixed=true" in message


def test_the_one_query_message_says_why_and_what_to_do() -> None:
    code, out, _ = lint(LINT / "golang-migrate", output="json")
    assert code == 3
    message = json.loads(out)[0]["message"]
    assert "x-multi-statement=true" in message
    assert "one implicit transaction" in message
    assert "a migration of its own" in message


def test_a_single_file_is_read_as_its_tool_runs_it_with_tool() -> None:
    path = str(LINT / "golang-migrate" / "1_a.up.sql")
    rules = []
    for tool in (None, "golang-migrate"):
        out = io.StringIO()
        code = linting.run(
            [path], output="json", stdin=io.StringIO(), stdout=out, stderr=io.StringIO(), tool=tool
        )
        assert code == 3
        rules.append([r["rule"] for r in json.loads(out.getvalue())])
    assert rules == [["drop-index-not-concurrent"], [ONE_QUERY, "drop-index-not-concurrent"]]


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
