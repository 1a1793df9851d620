"""The importer reads a migration file the way psql and PostgreSQL would (issue #20, part 2): psql
meta-commands and COPY data, search_path, temporary and partitioned tables, the names PostgreSQL
gives unnamed indexes, and statements later in the files that drop or rename an index. Pure: no
server (the names are checked against a real PostgreSQL in tests/e2e/test_import_naming.py).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import yaml

from dbindex_operator.tools import importing

ROOT = Path(__file__).resolve().parents[2]
NAMING = ROOT / "tests" / "fixtures" / "migrations" / "naming"
OPTIONS: dict[str, Any] = {
    "namespace": None,
    "secret": "db",
    "key": None,
    "deletion_policy": "Retain",
}


def convert(sql: str, **overrides: Any) -> importing.ImportResult:
    return importing.convert(sql, "m.sql", **{**OPTIONS, **overrides})


def names(result: importing.ImportResult) -> list[str]:
    return [m["spec"]["name"] for m in result.manifests]


def run(paths: list[str], **overrides: Any) -> tuple[int, list[dict[str, Any]], list[str]]:
    out, err = io.StringIO(), io.StringIO()
    code = importing.run(
        paths, **{**OPTIONS, **overrides}, stdin=io.StringIO(), stdout=out, stderr=err
    )
    return code, [m for m in yaml.safe_load_all(out.getvalue()) if m], err.getvalue().splitlines()


# --- psql meta-commands and COPY data ---------------------------------------------------------


def test_an_index_right_after_a_meta_command_is_not_lost() -> None:
    """Measured: `\\set ON_ERROR_STOP on` followed by two CREATE INDEX printed one manifest, and
    the error named only the meta-command's line."""
    result = convert("\\set ON_ERROR_STOP on\nCREATE INDEX a ON t (x);\nCREATE INDEX b ON t (y);\n")
    assert result.errors == []
    assert names(result) == ["a", "b"]
    assert result.notes == ["m.sql:1: skipped psql meta-command \\set"]


@pytest.mark.parametrize(
    "meta",
    [
        "\\set ON_ERROR_STOP on",
        "\\getenv home HOME",
        "\\d t",
        "\\connect app",
        "\\echo it's unbalanced",
        '\\echo "also" unbalanced"',
        "\\timing on",
        "\\if :ok",
        "   \\pset pager off",
        "\\i other.sql",
    ],
)
def test_meta_commands_are_skipped_line_by_line(meta: str) -> None:
    sql = (
        f"CREATE INDEX a ON t (x);\n{meta}\nCREATE INDEX b ON t (y);\n{meta}\n"
        "-- c\nCREATE INDEX c ON t (z);"
    )
    result = convert(sql)
    assert result.errors == []
    assert names(result) == ["a", "b", "c"]
    command = meta.split()[0]
    assert result.notes == [
        f"m.sql:2: skipped psql meta-command {command}",
        f"m.sql:4: skipped psql meta-command {command}",
    ]
    assert result.manifests[2]["metadata"]["annotations"] == {"dbindex.dev/description": "c"}


def test_a_statement_after_a_meta_command_reports_its_own_line() -> None:
    result = convert("\\set x 1\nCREATE INDEX a ON t (x;\nCREATE INDEX b ON t (y);\n")
    assert names(result) == ["b"]
    assert result.errors == ["m.sql:2: error: syntax error: syntax error at end of input"]


@pytest.mark.parametrize(
    "sql",
    [
        pytest.param("CREATE INDEX a ON t (x) WHERE y <> '\n\\x';", id="in-a-string"),
        pytest.param("CREATE INDEX a ON t (x) WHERE y <> E'\\'\n\\x';", id="in-an-escape-string"),
        pytest.param("CREATE INDEX a ON t (x) WHERE y <> $q$\n\\x$q$;", id="in-dollar-quotes"),
    ],
)
def test_a_backslash_line_inside_a_statement_is_kept(sql: str) -> None:
    result = convert(sql)
    assert result.errors == [] and result.notes == []
    assert "\\x" in result.manifests[0]["spec"]["where"]


def test_a_backslash_line_inside_a_comment_is_kept() -> None:
    result = convert(
        "CREATE INDEX a /* a comment\n\\x */ ON t (x);\n/*\n\\y\n*/ CREATE INDEX b ON t (y);"
    )
    assert result.errors == [] and result.notes == []
    assert names(result) == ["a", "b"]


def test_a_function_body_holding_backslash_lines_is_one_statement() -> None:
    sql = (
        "CREATE FUNCTION f() RETURNS text LANGUAGE sql AS $$\nSELECT '\\n'\n$$;\n"
        "CREATE INDEX a ON t (x);"
    )
    result = convert(sql)
    assert result.errors == []
    assert result.notes == ["m.sql:1: skipped CREATE FUNCTION statement"]
    assert names(result) == ["a"]


def test_copy_data_is_skipped() -> None:
    sql = (
        "COPY t (a, b) FROM stdin;\n1\tCREATE INDEX nope ON t (a);\n2\tx\n\\.\n"
        "CREATE INDEX a ON t (x);\n"
        "\\copy t from stdin\n3\ty\n\\.\n"
        "CREATE INDEX b ON t (y);\n"
    )
    result = convert(sql)
    assert result.errors == []
    assert names(result) == ["a", "b"]
    assert result.notes == [
        "m.sql:1: skipped COPY statement",
        "m.sql:2: skipped 3 lines of COPY data",
        "m.sql:6: skipped psql meta-command \\copy",
        "m.sql:7: skipped 2 lines of COPY data",
    ]


# --- search_path ---------------------------------------------------------------------------------


def test_set_search_path_decides_the_schema() -> None:
    """Measured: `SET search_path TO app` earlier in the file was ignored (public.<table>)."""
    result = convert("SET search_path TO app;\nCREATE INDEX i ON orders (a);\n")
    assert result.errors == []
    assert result.manifests[0]["spec"]["schema"] == "app"
    assert list(result.manifests[0]["spec"])[:4] == ["connection", "schema", "table", "name"]
    assert result.notes == [
        "m.sql:1: followed SET search_path: app",
        "m.sql:2: table orders is taken to be app.orders: the first schema of search_path app"
        " (set at m.sql:1); these migrations create no table orders on that path",
    ]


def schema_of(sql: str, index: str = "i") -> str | None:
    result = convert(sql)
    assert result.errors == []
    (manifest,) = [m for m in result.manifests if m["spec"]["name"] == index]
    schema: str | None = manifest["spec"].get("schema")
    return schema


@pytest.mark.parametrize(
    ("sql", "schema"),
    [
        pytest.param("CREATE INDEX i ON t (a)", None, id="default-path"),
        pytest.param("SET search_path = app, public; CREATE INDEX i ON t (a)", "app", id="equals"),
        pytest.param('SET search_path TO "$user", app; CREATE INDEX i ON t (a)', "app", id="user"),
        pytest.param(
            "SET search_path TO pg_catalog, app; CREATE INDEX i ON t (a)", "app", id="pg-c"
        ),
        pytest.param('SET search_path TO "App"; CREATE INDEX i ON t (a)', "App", id="quoted"),
        pytest.param(
            "SET SESSION search_path TO app; CREATE INDEX i ON t (a)", "app", id="session"
        ),
        pytest.param(
            "SET search_path TO a, b; CREATE TABLE b.t (a int); CREATE INDEX i ON t (a)",
            "b",
            id="where-the-table-is",
        ),
        pytest.param(
            "SET search_path TO a, b; CREATE TABLE t (a int); CREATE INDEX i ON t (a)",
            "a",
            id="created-unqualified",
        ),
        pytest.param(
            "SET search_path TO app; CREATE INDEX i ON public.t (a)", "public", id="qualified"
        ),
        pytest.param("SET search_path TO app; RESET search_path; CREATE INDEX i ON t (a)", None),
        pytest.param(
            "SET search_path TO app; SET search_path TO DEFAULT; CREATE INDEX i ON t (a)", None
        ),
        pytest.param("SET search_path TO app; RESET ALL; CREATE INDEX i ON t (a)", None, id="all"),
        pytest.param("BEGIN; SET LOCAL search_path TO app; CREATE INDEX i ON t (a)", "app"),
        pytest.param("BEGIN; SET LOCAL search_path TO app; COMMIT; CREATE INDEX i ON t (a)", None),
        pytest.param(
            "SET search_path TO s; BEGIN; SET LOCAL search_path TO app; COMMIT;"
            " CREATE INDEX i ON t (a)",
            "s",
            id="local-then-session",
        ),
        pytest.param("BEGIN; SET search_path TO app; ROLLBACK; CREATE INDEX i ON t (a)", None),
        pytest.param("BEGIN; SET search_path TO app; COMMIT; CREATE INDEX i ON t (a)", "app"),
        pytest.param(
            "SELECT pg_catalog.set_config('search_path', 'app, \"My S\"', false);"
            " CREATE INDEX i ON t (a)",
            "app",
            id="set-config",
        ),
        pytest.param(
            "SELECT set_config('search_path', ' \"My S\" ,app', true); CREATE INDEX i ON t (a)",
            "My S",
            id="set-config-local-quoted",
        ),
        pytest.param(
            "SELECT set_config('search_path', 'APP', false); CREATE INDEX i ON t (a)",
            "app",
            id="set-config-lowercases",
        ),
    ],
)
def test_search_path_forms(sql: str, schema: str | None) -> None:
    assert schema_of(sql) == schema


def test_every_file_starts_with_the_default_search_path(tmp_path: Path) -> None:
    first, second = tmp_path / "1.sql", tmp_path / "2.sql"
    first.write_text("SET search_path TO app;\nCREATE INDEX i ON t (a);\n")
    second.write_text("CREATE INDEX j ON t (a);\n")
    code, manifests, _ = run([str(first), str(second)])
    assert code == 0
    assert [m["spec"].get("schema") for m in manifests] == ["app", None]


def test_a_table_found_on_the_path_is_noted_with_where_it_was_created() -> None:
    result = convert(
        "SET search_path TO a, b;\nCREATE TABLE b.t (x int);\nCREATE INDEX i ON t (x);"
    )
    assert result.notes[-1] == (
        "m.sql:3: table t is b.t by search_path a, b (set at m.sql:1; the table created at m.sql:2)"
    )


def test_a_table_used_before_it_is_created_if_not_exists_counts_as_created() -> None:
    result = convert(
        "CREATE INDEX i ON b.t (a);\nCREATE TABLE IF NOT EXISTS b.t (a int);\n"
        "SET search_path TO a, b;\nCREATE INDEX j ON t (a);"
    )
    assert [m["spec"].get("schema") for m in result.manifests] == ["b", "b"]


def test_an_empty_search_path_finds_no_unqualified_table() -> None:
    result = convert(
        "SELECT pg_catalog.set_config('search_path', '', false);\nCREATE INDEX i ON t (a);\n"
        "CREATE INDEX j ON public.t (a);"
    )
    assert names(result) == ["j"]
    assert result.errors == [
        "m.sql:2: error: table t is not schema-qualified and search_path '' (set at m.sql:1) has"
        " no schema to find it in"
    ]


def test_set_config_with_a_computed_value_is_not_followed() -> None:
    result = convert(
        "SELECT set_config('search_path', 'app,' || current_setting('search_path'), false);\n"
        "CREATE INDEX i ON t (a);"
    )
    assert result.notes[0] == (
        "m.sql:1: cannot follow set_config('search_path', ...): its arguments are not constants;"
        " search_path stays $user, public"
    )
    assert result.manifests[0]["spec"].get("schema") is None


# --- temporary and partitioned tables ------------------------------------------------------------


@pytest.mark.parametrize(
    "create",
    [
        "CREATE TEMP TABLE scratch (a int)",
        "CREATE TEMPORARY TABLE scratch (a int) ON COMMIT DROP",
        "CREATE LOCAL TEMP TABLE IF NOT EXISTS scratch (a int)",
        "CREATE TEMP TABLE scratch AS SELECT 1 AS a",
        "SELECT 1 AS a INTO TEMP scratch",
        "CREATE TABLE pg_temp.scratch (a int)",
    ],
)
def test_an_index_on_a_temporary_table_is_refused(create: str) -> None:
    """Measured: an index on a table the same file creates as CREATE TEMP TABLE was converted."""
    result = convert(
        f"{create};\nCREATE INDEX i ON scratch (a);\nCREATE INDEX j ON public.scratch (a);"
    )
    assert names(result) == ["j"]  # public.scratch is another table
    assert result.errors == [
        "m.sql:2: error: table scratch is a temporary table (CREATE TEMP TABLE at m.sql:1): it"
        " exists only in the migration's own session, so no DatabaseIndex can build an index on it"
    ]


def test_pg_temp_qualified_table_is_refused() -> None:
    result = convert("CREATE INDEX i ON pg_temp.scratch (a)")
    assert result.manifests == []
    assert "is a temporary table: it exists only in the migration's own session" in result.errors[0]


def test_temporary_tables_end_with_their_file(tmp_path: Path) -> None:
    first, second = tmp_path / "1.sql", tmp_path / "2.sql"
    first.write_text("CREATE TEMP TABLE t (a int);\n")
    second.write_text("CREATE INDEX i ON t (a);\n")
    code, manifests, _ = run([str(first), str(second)])
    assert code == 0
    assert [m["spec"]["name"] for m in manifests] == ["i"]


def test_an_index_on_a_partitioned_table_is_flagged() -> None:
    """Measured: an index on a table created PARTITION BY was converted without a word."""
    result = convert(
        "CREATE TABLE events (at date) PARTITION BY RANGE (at);\n"
        "CREATE TABLE events_2024 PARTITION OF events\n"
        "    FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');\n"
        "CREATE INDEX events_at ON events (at);\n"
        "CREATE INDEX events_2024_at ON events_2024 (at);\n"
    )
    assert result.errors == []
    assert names(result) == ["events_at", "events_2024_at"]
    assert result.notes[2:] == [
        "m.sql:4: table public.events is partitioned (PARTITION BY at m.sql:1): the operator builds"
        " the index ON ONLY the table and then on every partition"
    ]


# --- unnamed indexes -----------------------------------------------------------------------------

# What PostgreSQL named each unnamed index of the fixture (tests/e2e/test_import_naming.py checks).
POSTGRESQL_NAMES = {
    2: "t_a_idx",
    3: "t_a_idx1",
    4: "t_a_b_idx",
    5: "t_b_c_a_idx",
    6: "t_a_a1_idx",
    7: "t_lower_idx",
    8: "t_expr_idx",
    9: "t_expr_expr1_expr2_idx",
    10: "t_lower_lower1_upper_idx",
    11: "t_expr_expr1_expr2_idx1",
    12: "t_b_idx",
    13: "t_a_idx2",
    14: "t_a_idx3",
    15: "t_lower_idx1",
    16: "t_expr_idx1",
    17: "t_coalesce_greatest_least_idx",
    18: "t_nullif_idx",
    19: "t_array_idx",
    20: "t_row_idx",
    21: "t_c_idx",
    22: "t_case_idx",
    23: "t_expr_idx2",
    24: "t_a_idx4",
    25: "t_b_idx1",
    26: "t_b_idx2",
    27: "t_expr_expr1_idx",
    28: "t_date_trunc_idx",
    29: "t_timezone_idx",
    30: "t_extract_idx",
    31: "t_arr_idx",
    32: "t_x_idx",
    33: "t_j_idx",
    34: "t_b_idx3",
    35: "t_a_idx5",
    39: "t_d_idx1",
    40: "u_a_idx1",
    44: "t_lower_idx",
    47: "l" * 29 + "_" + "c" * 29 + "_idx",
    48: "l" * 29 + "_" + "c" * 28 + "_idx1",
    49: "l" * 57 + "_c_idx",
    50: "l" * 29 + "_" + "c" * 28 + "_idx2",
    51: "l" * 29 + "_" + "é" * 14 + "_idx",
    52: "résumé_des_événements_à_venir_dans_la_base_de_don_a_é_idx",
    53: "résumé_des_événements_à_venir_dans_la_base_de_donn_é_idx",
}


def test_unnamed_indexes_get_the_names_postgresql_gives_them() -> None:
    code, manifests, notes = run([str(NAMING)])
    assert code == 0
    prefix = f"{NAMING / '002_unnamed.sql'}:"
    given = {}
    for note in notes:
        where, _, message = note.partition(": ")
        if message.startswith("the index has no name: the manifest names it "):
            given[int(where.removeprefix(prefix))] = message.split()[9].rstrip(",")
    assert given == POSTGRESQL_NAMES
    assert all(len(name.encode()) <= 63 for name in given.values())
    # The first t_lower_idx was dropped (line 43); its name went to the index of line 44.
    assert [m["spec"]["name"] for m in manifests].count("t_lower_idx") == 1


def test_an_unnamed_index_is_named_with_a_note() -> None:
    """Measured: unnamed indexes were refused."""
    result = convert("CREATE UNIQUE INDEX ON orders (lower(email)) INCLUDE (id);")
    assert result.errors == []
    assert result.manifests[0]["spec"]["name"] == "orders_lower_id_idx"
    assert result.manifests[0]["metadata"]["name"] == "orders-lower-id-idx"
    assert result.notes == [
        "m.sql:1: the index has no name: the manifest names it orders_lower_id_idx, the name"
        " PostgreSQL gives it (unless another relation in public already has that name)"
    ]


def test_generated_names_count_only_relations_of_the_same_schema() -> None:
    result = convert(
        "CREATE INDEX ON a.t (x); CREATE INDEX ON b.t (x); CREATE INDEX ON a.t (x);"
        " CREATE TABLE t_x_idx2 (y int); CREATE INDEX ON t (x); CREATE INDEX ON t (x);"
    )
    assert names(result) == ["t_x_idx", "t_x_idx", "t_x_idx1", "t_x_idx", "t_x_idx1"]


# --- the end state within the files --------------------------------------------------------------


@pytest.mark.parametrize(
    ("later", "remaining"),
    [
        pytest.param("DROP INDEX i", ["j"], id="drop"),
        pytest.param("DROP INDEX CONCURRENTLY IF EXISTS public.i", ["j"], id="drop-concurrently"),
        pytest.param("DROP INDEX IF EXISTS nope, i CASCADE", ["j"], id="drop-several"),
        pytest.param("DROP INDEX other.i", ["i", "j"], id="drop-in-another-schema"),
        pytest.param("DROP TABLE t", ["j"], id="drop-table"),
        pytest.param("DROP TABLE IF EXISTS u, t CASCADE", ["j"], id="drop-tables"),
        pytest.param("DROP SCHEMA public CASCADE", [], id="drop-schema"),
        pytest.param("DROP VIEW t", ["i", "j"], id="drop-view-of-that-name"),
    ],
)
def test_indexes_dropped_later_get_no_manifest(later: str, remaining: list[str]) -> None:
    result = convert(f"CREATE INDEX i ON t (a);\nCREATE INDEX j ON v (a);\n{later};\n")
    assert result.errors == []
    assert names(result) == remaining


def test_a_dropped_index_is_noted() -> None:
    result = convert("CREATE INDEX i ON t (a);\nDROP TABLE t;\n")
    assert result.manifests == []
    assert result.notes == [
        "m.sql:2: index i (created at m.sql:1) is dropped here with table t: no manifest for it"
    ]


def test_renames_are_followed() -> None:
    result = convert(
        "CREATE INDEX i ON t (a);\n"
        "ALTER INDEX i RENAME TO i2;\n"
        "ALTER TABLE t RENAME TO t2;\n"
        "ALTER TABLE t2 SET SCHEMA app;\n"
        "ALTER SCHEMA app RENAME TO shop;\n"
        "ALTER INDEX IF EXISTS shop.i2 RENAME TO i3;\n"
    )
    assert result.errors == []
    ((metadata, spec),) = [(m["metadata"], m["spec"]) for m in result.manifests]
    assert metadata["name"] == "i3"
    assert (spec["schema"], spec["table"], spec["name"]) == ("shop", "t2", "i3")
    assert list(spec)[:4] == ["connection", "schema", "table", "name"]
    assert result.notes == [
        "m.sql:2: index i (created at m.sql:1) is renamed to i2 here: the manifest names i2",
        "m.sql:3: table public.t of index i2 (created at m.sql:1) becomes public.t2 here:"
        " the manifest follows",
        "m.sql:4: table public.t2 of index i2 (created at m.sql:1) becomes app.t2 here:"
        " the manifest follows",
        "m.sql:5: table app.t2 of index i2 (created at m.sql:1) becomes shop.t2 here:"
        " the manifest follows",
        "m.sql:6: index i2 (created at m.sql:1) is renamed to i3 here: the manifest names i3",
    ]


@pytest.mark.parametrize(
    ("index", "dropped"),
    [
        pytest.param("CREATE INDEX i ON t (a)", True, id="key"),
        pytest.param("CREATE INDEX i ON t (b) INCLUDE (a)", True, id="include"),
        pytest.param("CREATE INDEX i ON t ((a + 1))", True, id="expression"),
        pytest.param("CREATE INDEX i ON t ((t.a::text))", True, id="qualified-reference"),
        pytest.param("CREATE INDEX i ON t (b) WHERE a > 0", True, id="predicate"),
        pytest.param("CREATE INDEX i ON t (b) WHERE ab > 0", False, id="another-column"),
        pytest.param("CREATE INDEX i ON t (a(b))", False, id="a-function-named-a"),
        pytest.param("CREATE INDEX i ON u (a)", False, id="another-table"),
    ],
)
def test_an_index_goes_with_a_dropped_column(index: str, dropped: bool) -> None:
    result = convert(f"{index};\nALTER TABLE t DROP COLUMN IF EXISTS a CASCADE, ADD COLUMN c int;")
    assert result.errors == []
    assert names(result) == ([] if dropped else ["i"])
    if dropped:
        assert result.notes == [
            "m.sql:2: index i (created at m.sql:1) is dropped here with column a of table t:"
            " no manifest for it"
        ]


def test_renamed_columns_are_followed() -> None:
    result = convert(
        "CREATE INDEX i ON t (a DESC, lower(a || b), b) INCLUDE (a) WHERE t.a > 0 AND b <> '';\n"
        "ALTER TABLE t RENAME COLUMN a TO z;\n"
        "ALTER TABLE t RENAME b TO y;\n"
    )
    assert result.errors == []
    (spec,) = [m["spec"] for m in result.manifests]
    assert spec["columns"] == [
        {"column": "z", "order": "Desc"},
        {"expression": "lower(z || y)"},
        {"column": "y"},
    ]
    assert spec["include"] == ["z"]
    assert spec["where"] == "t.z > 0 AND y <> ''"
    assert result.notes[0] == (
        "m.sql:2: column a of table t, used by index i (created at m.sql:1), is renamed to z"
        " here: the manifest follows"
    )


def test_a_name_taken_twice_is_refused_unless_if_not_exists() -> None:
    result = convert(
        "CREATE INDEX i ON t (a);\nCREATE INDEX IF NOT EXISTS i ON t (b);\nCREATE INDEX i ON t (c);"
    )
    assert [m["spec"]["columns"] for m in result.manifests] == [[{"column": "a"}]]
    assert result.notes == [
        "m.sql:2: skipped: public.i already exists (created at m.sql:1), so IF NOT EXISTS makes"
        " PostgreSQL skip this statement"
    ]
    assert result.errors == [
        "m.sql:3: error: public.i already exists (created at m.sql:1): PostgreSQL refuses this"
        " statement"
    ]


def test_drops_and_renames_of_unknown_indexes_are_still_skipped_notes() -> None:
    result = convert(
        "DROP INDEX nope;\nALTER INDEX nope RENAME TO other;\nCREATE INDEX i ON t (a);"
    )
    assert result.notes == [
        "m.sql:1: skipped DROP INDEX statement",
        "m.sql:2: skipped ALTER INDEX statement",
    ]
