"""The importer (tools/importing/): migration SQL -> DatabaseIndex manifests. Pure: no server.

Most tests go through the public entry points (``convert``, ``run``, ``dump``); the seams between
the stages (parse, spec, text, render, tags) have table-driven tests at the end.
The runbook against a real PostgreSQL is in tests/e2e/test_importing.py.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import yaml
from pglast import ast, parser

from dbindex_operator.tools import importing
from dbindex_operator.tools.importing import parse, render, tags
from dbindex_operator.tools.importing import text as importing_text

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "import"
SEED = ROOT / "examples" / "seed"

OPTIONS: dict[str, Any] = {
    "namespace": None,
    "secret": "db",
    "key": None,
    "deletion_policy": "Retain",
}
CONNECTION = {"connection": {"secretRef": {"name": "db"}}}


def convert(sql: str, **overrides: Any) -> importing.ImportResult:
    return importing.convert(sql, "m.sql", **{**OPTIONS, **overrides})


def only_manifest(sql: str, **overrides: Any) -> dict[str, Any]:
    result = convert(sql, **overrides)
    assert result.errors == []
    assert len(result.manifests) == 1
    return result.manifests[0]


def spec(**fields: Any) -> dict[str, Any]:
    return {**CONNECTION, **fields}


def run(paths: list[str], stdin: str = "", **overrides: Any) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = importing.run(
        paths,
        **{**OPTIONS, **overrides},
        stdin=io.StringIO(stdin),
        stdout=out,
        stderr=err,
    )
    return code, out.getvalue(), err.getvalue()


# --- accepted forms ------------------------------------------------------------------------------

A = [{"column": "a"}]


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        pytest.param("CREATE INDEX i ON t (a)", spec(table="t", name="i", columns=A), id="plain"),
        pytest.param(
            "create index i on t(a);", spec(table="t", name="i", columns=A), id="lowercase"
        ),
        pytest.param(
            "CREATE INDEX CONCURRENTLY i ON t (a)",
            spec(table="t", name="i", columns=A),
            id="concurrently",
        ),
        pytest.param(
            "CREATE INDEX IF NOT EXISTS i ON t (a)",
            spec(table="t", name="i", columns=A),
            id="if-not-exists",
        ),
        pytest.param(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a)",
            spec(table="t", name="i", columns=A),
            id="concurrently-if-not-exists",
        ),
        pytest.param(
            "CREATE UNIQUE INDEX i ON t (a)",
            spec(table="t", name="i", unique=True, columns=A),
            id="unique",
        ),
        pytest.param(
            "CREATE INDEX i ON app.t (a)",
            spec(schema="app", table="t", name="i", columns=A),
            id="schema-qualified",
        ),
        pytest.param(
            'CREATE INDEX "Idx X" ON "My Schema"."My Table" ("My Col")',
            spec(
                schema="My Schema", table="My Table", name="Idx X", columns=[{"column": "My Col"}]
            ),
            id="quoted-identifiers",
        ),
        pytest.param(
            "CREATE INDEX i ON t * (a)", spec(table="t", name="i", columns=A), id="table-star"
        ),
        pytest.param(
            "CREATE INDEX i ON t USING hash (a)",
            spec(table="t", name="i", method="hash", columns=A),
            id="using-hash",
        ),
        pytest.param(
            "CREATE INDEX i ON t USING BTREE (a)",
            spec(table="t", name="i", columns=A),
            id="using-btree-is-default",
        ),
        pytest.param(
            "CREATE INDEX i ON t (a, b, c)",
            spec(table="t", name="i", columns=[{"column": c} for c in "abc"]),
            id="several-columns",
        ),
        pytest.param(
            "CREATE INDEX i ON t ((lower(email)))",
            spec(table="t", name="i", columns=[{"expression": "lower(email)"}]),
            id="expression-in-parentheses",
        ),
        pytest.param(
            "CREATE INDEX i ON t (lower(email))",
            spec(table="t", name="i", columns=[{"expression": "lower(email)"}]),
            id="function-call-key",
        ),
        pytest.param(
            "CREATE INDEX i ON t (public.f(a, b), COALESCE(a, b), CAST(a AS int))",
            spec(
                table="t",
                name="i",
                columns=[
                    {"expression": "public.f(a, b)"},
                    {"expression": "COALESCE(a, b)"},
                    {"expression": "CAST(a AS int)"},
                ],
            ),
            id="special-function-keys",
        ),
        pytest.param(
            "CREATE INDEX i ON t ((a::text || ' ' || b), (  (a + 1)  ))",
            spec(
                table="t",
                name="i",
                columns=[{"expression": "a::text || ' ' || b"}, {"expression": "(a + 1)"}],
            ),
            id="operators-casts-inner-parentheses",
        ),
        pytest.param(
            "CREATE INDEX i ON t (a ASC, b DESC, c NULLS FIRST, d DESC NULLS LAST)",
            spec(
                table="t",
                name="i",
                columns=[
                    {"column": "a", "order": "Asc"},
                    {"column": "b", "order": "Desc"},
                    {"column": "c", "nulls": "First"},
                    {"column": "d", "order": "Desc", "nulls": "Last"},
                ],
            ),
            id="order-and-nulls",
        ),
        pytest.param(
            "CREATE INDEX i ON t (a text_pattern_ops, b pg_catalog.int4_ops)",
            spec(
                table="t",
                name="i",
                columns=[
                    {"column": "a", "opclass": "text_pattern_ops"},
                    {"column": "b", "opclass": "pg_catalog.int4_ops"},
                ],
            ),
            id="opclasses",
        ),
        pytest.param(
            'CREATE INDEX i ON t (a COLLATE "C", b COLLATE pg_catalog."default", '
            'c COLLATE "en_US.utf8")',
            spec(
                table="t",
                name="i",
                columns=[
                    {"column": "a", "collation": "C"},
                    {"column": "b", "collation": "default"},
                    {"column": "c", "collation": "en_US.utf8"},
                ],
            ),
            id="collations",
        ),
        pytest.param(
            'CREATE INDEX i ON t ((lower(a)) COLLATE "C" text_pattern_ops DESC NULLS LAST)',
            spec(
                table="t",
                name="i",
                columns=[
                    {
                        "expression": "lower(a)",
                        "order": "Desc",
                        "nulls": "Last",
                        "opclass": "text_pattern_ops",
                        "collation": "C",
                    }
                ],
            ),
            id="expression-with-every-option",
        ),
        pytest.param(
            'CREATE INDEX i ON t (lower(a) COLLATE "C")',
            spec(table="t", name="i", columns=[{"expression": "lower(a)", "collation": "C"}]),
            id="function-key-then-collate",
        ),
        pytest.param(
            "CREATE INDEX i ON t (a) INCLUDE (b, c)",
            spec(table="t", name="i", columns=A, include=["b", "c"]),
            id="include",
        ),
        pytest.param(
            "CREATE UNIQUE INDEX i ON t (a) NULLS NOT DISTINCT",
            spec(table="t", name="i", unique=True, columns=A, nullsNotDistinct=True),
            id="nulls-not-distinct",
        ),
        pytest.param(
            "CREATE UNIQUE INDEX i ON t (a) NULLS DISTINCT",
            spec(table="t", name="i", unique=True, columns=A),
            id="nulls-distinct-is-default",
        ),
        pytest.param(
            "CREATE INDEX i ON t (a) WITH (fillfactor = 70, deduplicate_items = off,"
            " vacuum_cleanup_index_scale_factor = 1.5)",
            spec(
                table="t",
                name="i",
                columns=A,
                storageParameters={
                    "fillfactor": "70",
                    "deduplicate_items": "off",
                    "vacuum_cleanup_index_scale_factor": "1.5",
                },
            ),
            id="storage-parameters",
        ),
        pytest.param(
            "CREATE INDEX i ON t USING gin (a) WITH (fastupdate, gin_pending_list_limit = ' 64 ')",
            spec(
                table="t",
                name="i",
                method="gin",
                columns=A,
                storageParameters={"fastupdate": "true", "gin_pending_list_limit": " 64 "},
            ),
            id="storage-parameters-bare-name-and-string",
        ),
        pytest.param(
            'CREATE INDEX i ON t USING gist (a) WITH (buffering = "Auto")',
            spec(
                table="t",
                name="i",
                method="gist",
                columns=A,
                storageParameters={"buffering": "Auto"},
            ),
            id="storage-parameters-quoted-identifier",
        ),
        pytest.param(
            "CREATE INDEX i ON t USING brin (a) WITH (autosummarize = true, pages_per_range = +32)",
            spec(
                table="t",
                name="i",
                method="brin",
                columns=A,
                storageParameters={"autosummarize": "true", "pages_per_range": "32"},
            ),
            id="storage-parameters-keyword-and-signed-number",
        ),
        pytest.param(
            "CREATE INDEX i ON t (a) TABLESPACE fast_ssd",
            spec(table="t", name="i", columns=A, tablespace="fast_ssd"),
            id="tablespace",
        ),
        pytest.param(
            "CREATE INDEX i ON t (a) WHERE deleted_at IS NULL;",
            spec(table="t", name="i", columns=A, where="deleted_at IS NULL"),
            id="where",
        ),
        pytest.param(
            "CREATE INDEX i ON t (a) WHERE (a > 0)",
            spec(table="t", name="i", columns=A, where="(a > 0)"),
            id="where-in-parentheses",
        ),
        pytest.param(
            "CREATE INDEX i ON t (a)\n  WHERE a > 0 -- positive\n    AND b <> 'x'  -- trailing\n;",
            spec(table="t", name="i", columns=A, where="a > 0\n    AND b <> 'x'"),
            id="where-multi-line-drops-comments-keeps-layout",
        ),
    ],
)
def test_accepted_forms(sql: str, expected: dict[str, Any]) -> None:
    assert only_manifest(sql)["spec"] == expected


def test_every_clause_in_manifest_order() -> None:
    manifest = only_manifest(
        "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS i ON s.t USING btree"
        ' ((lower(a)) COLLATE "C" text_ops DESC NULLS FIRST, b)'
        " INCLUDE (c) NULLS NOT DISTINCT WITH (fillfactor = 90) TABLESPACE ts"
        " WHERE b > 0",
        namespace="shop",
        key="dsn",
        deletion_policy="Delete",
    )
    assert manifest == {
        "apiVersion": "dbindex.dev/v1alpha1",
        "kind": "DatabaseIndex",
        "metadata": {"name": "i", "namespace": "shop"},
        "spec": {
            "connection": {"secretRef": {"name": "db", "key": "dsn"}},
            "schema": "s",
            "table": "t",
            "name": "i",
            "unique": True,
            "columns": [
                {
                    "expression": "lower(a)",
                    "order": "Desc",
                    "nulls": "First",
                    "opclass": "text_ops",
                    "collation": "C",
                },
                {"column": "b"},
            ],
            "include": ["c"],
            "where": "b > 0",
            "nullsNotDistinct": True,
            "tablespace": "ts",
            "storageParameters": {"fillfactor": "90"},
            "deletionPolicy": "Delete",
        },
    }
    # Readers (and diffs) see the manifest in the documented order, not sorted.
    assert list(manifest) == ["apiVersion", "kind", "metadata", "spec"]
    assert list(manifest["spec"]) == [
        "connection", "schema", "table", "name", "unique", "columns", "include", "where",
        "nullsNotDistinct", "tablespace", "storageParameters", "deletionPolicy",
    ]  # fmt: skip
    assert list(manifest["spec"]["columns"][0]) == [
        "expression", "order", "nulls", "opclass", "collation",
    ]  # fmt: skip


# --- expression and predicate text ---------------------------------------------------------------

EXPRESSION_STATEMENTS = [
    pytest.param("CREATE INDEX i ON t ((lower(a)))", id="paren-function"),
    pytest.param("CREATE INDEX i ON t (lower(a) DESC, upper(b))", id="bare-functions"),
    pytest.param("CREATE INDEX i ON t ((a + b * 2), (a::text || 'x'))", id="operators"),
    pytest.param('CREATE INDEX i ON t ((a COLLATE "C"))', id="collate-inside-expression"),
    pytest.param("CREATE INDEX i ON t ((CASE WHEN a > 0 THEN 1 ELSE 0 END))", id="case"),
    pytest.param("CREATE INDEX i ON t ((data->>'k'), (data #> '{a,b}'))", id="json-operators"),
    pytest.param("CREATE INDEX i ON t (EXTRACT(year FROM d), TRIM(BOTH 'x' FROM s))", id="sql-fn"),
    pytest.param("CREATE INDEX i ON t ((lower( -- why\n a)))", id="comment-inside"),
    pytest.param("CREATE INDEX i ON t (a) WHERE a IN (1, 2, 3) AND b IS NOT NULL", id="in-list"),
    pytest.param("CREATE INDEX i ON t (a) WHERE NOT (a = ANY ('{1,2}'::int[]))", id="any-array"),
    pytest.param("CREATE INDEX i ON t (a) WHERE a BETWEEN 1 AND 10 OR b ~~ 'x%'", id="between"),
    pytest.param(
        "SELECT 'é'; CREATE INDEX i ON t ((a || 'ß→'), (b)) WHERE c <> '☕' AND d = 'ü'",
        id="multibyte-text-before-and-inside",
    ),
]


def _original_expressions(sql: str) -> list[ast.Node]:
    """The expression and predicate nodes of the CREATE INDEX in ``sql``, straight from pglast."""
    (index,) = [raw.stmt for raw in parser.parse_sql(sql) if isinstance(raw.stmt, ast.IndexStmt)]
    nodes = [elem.expr for elem in index.indexParams or () if elem.expr is not None]
    return nodes + ([index.whereClause] if index.whereClause is not None else [])


def _manifest_texts(sql: str) -> list[str]:
    spec_ = only_manifest(sql)["spec"]
    texts = [column["expression"] for column in spec_["columns"] if "expression" in column]
    return texts + ([spec_["where"]] if "where" in spec_ else [])


@pytest.mark.parametrize("sql", EXPRESSION_STATEMENTS)
def test_expression_text_reparses_to_the_same_tree(sql: str) -> None:
    texts, nodes = _manifest_texts(sql), _original_expressions(sql)
    assert len(texts) == len(nodes)
    for text, node in zip(texts, nodes, strict=True):
        (raw,) = parser.parse_sql(f"SELECT {text}")
        assert isinstance(raw.stmt, ast.SelectStmt)
        (target,) = raw.stmt.targetList or ()
        assert target.val == node  # pglast compares trees, ignoring locations


@pytest.mark.parametrize("sql", EXPRESSION_STATEMENTS)
def test_expression_text_is_the_users_own_without_comments(sql: str) -> None:
    for text in _manifest_texts(sql):
        assert "--" not in text and "/*" not in text  # the operator refuses comments in fragments
        if "--" not in sql:
            assert text in sql


@pytest.mark.parametrize(
    ("sql", "expression"),
    [
        pytest.param("CREATE INDEX i ON t ((a /* one */ + 1))", "a + 1", id="block-comment"),
        pytest.param("CREATE INDEX i ON t ((a/**/+1))", "a +1", id="block-comment-no-space"),
        pytest.param(
            "CREATE INDEX i ON t ((\n  a -- one\n  + 1 -- two\n))", "a\n  + 1", id="line-comments"
        ),
    ],
)
def test_comments_are_dropped_from_expressions(sql: str, expression: str) -> None:
    assert only_manifest(sql)["spec"]["columns"] == [{"expression": expression}]


def test_multibyte_offsets_slice_the_right_text() -> None:
    manifest = only_manifest((FIXTURES / "unicode.sql").read_text(encoding="utf-8"))
    assert manifest["spec"]["columns"] == [
        {"expression": "replace(name, 'ß', 'ss')"},
        {"expression": "name || '→'"},
    ]
    assert manifest["spec"]["where"] == "name <> '☕' AND name LIKE 'Stra%'"
    assert manifest["metadata"]["annotations"] == {
        "dbindex.dev/description": "Straße: names with ß"
    }


def test_reparses_to_rejects_other_trees_and_extra_statements() -> None:
    (node,) = _original_expressions("CREATE INDEX i ON t ((a + 1))")
    assert importing.reparses_to("a + 1", node)
    assert importing.reparses_to("(a+1)", node)
    assert not importing.reparses_to("a + 2", node)
    assert not importing.reparses_to("a + 1; DROP TABLE t", node)
    assert not importing.reparses_to("a + 1 FROM t", node)
    assert not importing.reparses_to("a + 1,", node)


# --- metadata: names, namespace, description -----------------------------------------------------


@pytest.mark.parametrize(
    ("index_name", "expected"),
    [
        pytest.param("idx_orders_created_at", "idx-orders-created-at", id="underscores"),
        pytest.param('"Idx_Mixed_Case"', "idx-mixed-case", id="lowercased"),
        pytest.param('"a.b c$d"', "abcd", id="invalid-characters-dropped"),
        pytest.param('"__x__"', "x", id="dashes-trimmed"),
        pytest.param('"Ünï_cödé"', "n-cd", id="non-ascii-dropped"),
        pytest.param('"索引"', "index", id="nothing-left"),
        pytest.param("a" * 63, "a" * 63, id="63-characters"),
        pytest.param(f'"{"b" * 61}_C"', "b" * 61 + "-c", id="63-bytes"),
    ],
)
def test_metadata_name_derivation(index_name: str, expected: str) -> None:
    manifest = only_manifest(f"CREATE INDEX {index_name} ON t (a)")
    assert manifest["metadata"]["name"] == expected


def test_metadata_names_are_unique_in_the_output() -> None:
    result = convert(
        "CREATE INDEX idx_a ON s1.t (a); CREATE INDEX idx_a ON s2.t (a);"
        ' CREATE INDEX "IDX_A" ON s3.t (a); CREATE INDEX "idx-a-2" ON t (a);'
        f' CREATE INDEX {"x" * 63} ON t (a); CREATE INDEX "{"X" * 63}" ON t (a);'
    )
    assert result.errors == []
    names = [m["metadata"]["name"] for m in result.manifests]
    assert names == ["idx-a", "idx-a-2", "idx-a-3", "idx-a-2-2", "x" * 63, "x" * 61 + "-2"]
    # The SQL name is never changed: only metadata.name is made unique.
    assert [m["spec"]["name"] for m in result.manifests][:3] == ["idx_a", "idx_a", "IDX_A"]


def test_names_are_unique_across_files(tmp_path: Path) -> None:
    first, second = tmp_path / "001.sql", tmp_path / "002.sql"
    first.write_text("CREATE INDEX idx_a ON t (a);\n")
    second.write_text("CREATE INDEX idx_a ON other.t (a);\n")
    code, out, _ = run([str(first), str(second)])
    assert code == 0
    assert [m["metadata"]["name"] for m in yaml.safe_load_all(out)] == ["idx-a", "idx-a-2"]


def test_namespace_only_when_given() -> None:
    assert "namespace" not in only_manifest("CREATE INDEX i ON t (a)")["metadata"]
    with_namespace = only_manifest("CREATE INDEX i ON t (a)", namespace="shop")
    assert with_namespace["metadata"] == {"name": "i", "namespace": "shop"}


@pytest.mark.parametrize(
    ("sql", "description"),
    [
        pytest.param("-- Find orders fast\nCREATE INDEX i ON t (a);", "Find orders fast", id="one"),
        pytest.param(
            "-- first line\n--second line\n---- third\nCREATE INDEX i ON t (a);",
            "first line\nsecond line\nthird",
            id="several-lines",
        ),
        pytest.param(
            "/*\n * Block comment\n * over lines\n */\nCREATE INDEX i ON t (a);",
            "Block comment\nover lines",
            id="block",
        ),
        pytest.param(
            "/* block */\n-- then line\nCREATE INDEX i ON t (a);",
            "block\nthen line",
            id="block-then-line",
        ),
        pytest.param("/* same line */ CREATE INDEX i ON t (a);", "same line", id="same-line"),
        pytest.param(
            "-- about the file\n\n-- about the index\nCREATE INDEX i ON t (a);",
            "about the index",
            id="blank-line-separates",
        ),
        pytest.param(
            "  -- indented\n  CREATE INDEX i ON t (a);", "indented", id="indented-comment"
        ),
        pytest.param("-- unrelated\n\nCREATE INDEX i ON t (a);", None, id="blank-line-before"),
        pytest.param(
            "CREATE TABLE t (a int); -- trailing comment\nCREATE INDEX i ON t (a);",
            None,
            id="trailing-comment-of-previous-statement",
        ),
        pytest.param(
            "CREATE INDEX i /* inside */ ON t (a); -- after",
            None,
            id="comments-inside-and-after",
        ),
        pytest.param("--\n--\nCREATE INDEX i ON t (a);", None, id="empty-comments"),
        pytest.param("CREATE INDEX i ON t (a);", None, id="none"),
    ],
)
def test_description_from_comments_directly_above(sql: str, description: str | None) -> None:
    metadata = only_manifest(sql)["metadata"]
    if description is None:
        assert "annotations" not in metadata
    else:
        assert metadata["annotations"] == {"dbindex.dev/description": description}


# --- errors, notes and exit codes ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        pytest.param("CREATE INDEX i ON ONLY t (a)", "cannot express ON ONLY", id="on-only"),
        pytest.param("CREATE INDEX i ON ONLY (s.t) (a)", "cannot express ON ONLY", id="on-only-p"),
        pytest.param(
            "CREATE INDEX i ON t USING gist (a gist_trgm_ops (siglen = 32))",
            "cannot express operator class parameters",
            id="opclass-parameters",
        ),
        pytest.param(
            "CREATE INDEX i ON db.s.t (a)",
            "cannot express the database-qualified table db.s.t",
            id="database-qualified-table",
        ),
        pytest.param(
            f"CREATE INDEX {'i' * 64} ON t (a)",
            "is longer than 63 bytes",
            id="long-index-name",
        ),
        pytest.param(
            f'CREATE INDEX i ON t ("{"é" * 32}")',
            "is longer than 63 bytes",
            id="long-multibyte-column",
        ),
        pytest.param(
            f"CREATE INDEX i ON {'t' * 64} (a)", "is longer than 63 bytes", id="long-table-name"
        ),
        pytest.param(
            "CREATE INDEX i ON t (a) INCLUDE ((a + 1))",
            "INCLUDE accepts only plain column names",
            id="include-expression",
        ),
        pytest.param(
            "CREATE INDEX i ON t (a) WITH (toast.fillfactor = 70)",
            "indexes take no parameter namespace",
            id="namespaced-storage-parameter",
        ),
        pytest.param(
            "CREATE INDEX i ON t (a) WITH (x = int[])",
            "cannot express the value of storage parameter x",
            id="storage-parameter-value",
        ),
        pytest.param(
            "CREATE SCHEMA s CREATE TABLE t (a int) CREATE INDEX i ON t (a)",
            "cannot express CREATE INDEX inside CREATE SCHEMA",
            id="index-inside-create-schema",
        ),
        pytest.param(
            'CREATE INDEX i ON t (a COLLATE app."mine")',
            'cannot express the collation "app"."mine": collations are named without a schema',
            id="collation-in-another-schema",
        ),
        pytest.param(
            'CREATE INDEX i ON t (a s."my.ops")',
            'cannot express the operator class "s"."my.ops" unambiguously',
            id="opclass-name-with-dot",
        ),
        pytest.param(
            "CREATE INDEX i ON t USING hnsw (embedding vector_l2_ops)",
            "the operator would reject this index: method must be one of",
            id="unsupported-access-method",
        ),
        pytest.param(
            "CREATE INDEX i ON t (a) NULLS NOT DISTINCT",
            "the operator would reject this index: nullsNotDistinct requires unique",
            id="nulls-not-distinct-without-unique",
        ),
        pytest.param(
            "CREATE INDEX i ON t (a) WITH (fillfactor = 9)",
            "the operator would reject this index: storageParameters.fillfactor must be an "
            "integer from 10 to 100 for btree indexes, got '9'",
            id="storage-parameter-out-of-range",
        ),
        pytest.param(
            "CREATE INDEX i ON t USING hash (a) WITH (deduplicate_items = on)",
            "the operator would reject this index: storageParameters: 'deduplicate_items' is not "
            "a storage parameter of hash indexes (valid: fillfactor)",
            id="storage-parameter-of-another-method",
        ),
        pytest.param("CREATE INDEX i ON t (a", "syntax error: ", id="syntax-error"),
        pytest.param("SELECT 'unterminated", "syntax error: unterminated", id="lexer-error"),
    ],
)
def test_errors_name_file_and_line(sql: str, message: str, tmp_path: Path) -> None:
    assert_error_at_line_3(sql, message, tmp_path)


def test_require_names_refuses_an_unnamed_index(tmp_path: Path) -> None:
    message = "the index has no name: a DatabaseIndex needs an explicit name (--require-names)"
    assert_error_at_line_3("CREATE INDEX ON t (a)", message, tmp_path, require_names=True)


def assert_error_at_line_3(sql: str, message: str, tmp_path: Path, **overrides: Any) -> None:
    text = "-- header\n\n" + sql + "\n"  # the statement starts on line 3
    result = importing.convert(text, "m.sql", **{**OPTIONS, **overrides})
    assert result.manifests == []
    (error,) = result.errors
    assert error.startswith("m.sql:3: error: ")
    assert message in error

    path = tmp_path / "m.sql"
    path.write_text(text, encoding="utf-8")
    code, out, err = run([str(path)], **overrides)
    assert (code, out) == (1, "")
    assert f"{path}:3: error: " in err


def test_syntax_error_line_is_where_the_parser_stopped() -> None:
    result = convert("CREATE INDEX i\n  ON t\n  (a b c);\n")
    assert result.errors == ['m.sql:3: error: syntax error: syntax error at or near "c"']


def test_syntax_error_does_not_hide_the_other_statements() -> None:
    code, out, err = run([str(FIXTURES / "broken.sql")])
    assert code == 1
    names = [m["spec"]["name"] for m in yaml.safe_load_all(out)]
    assert names == ["before_typo", "after_typo"]
    assert err.splitlines() == [
        f'{FIXTURES / "broken.sql"}:3: error: syntax error: syntax error at or near "WHERE"'
    ]


def test_inexpressible_statements_print_nothing_but_the_others_still_print() -> None:
    path = FIXTURES / "inexpressible.sql"
    code, out, err = run([str(path)], require_names=True)
    assert code == 1
    assert [m["spec"]["name"] for m in yaml.safe_load_all(out)] == ["fine"]
    assert err.splitlines() == [
        f"{path}:2: error: the index has no name: a DatabaseIndex needs an explicit name"
        " (--require-names)",
        f"{path}:3: error: cannot express ON ONLY: a DatabaseIndex builds the index on the whole"
        " table",
    ]
    # Without --require-names the unnamed index gets PostgreSQL's name, with a note.
    code, out, err = run([str(path)])
    assert code == 1
    assert [m["spec"]["name"] for m in yaml.safe_load_all(out)] == ["fine", "t_b_idx"]
    assert err.splitlines() == [
        f"{path}:2: the index has no name: the manifest names it t_b_idx, the name PostgreSQL"
        " gives it (unless another relation in public already has that name)",
        f"{path}:3: error: cannot express ON ONLY: a DatabaseIndex builds the index on the whole"
        " table",
    ]


@pytest.mark.parametrize(
    ("sql", "tag"),
    [
        pytest.param("CREATE TABLE t (a int)", "CREATE TABLE", id="create-table"),
        pytest.param("ALTER TABLE t ADD COLUMN b int", "ALTER TABLE", id="alter-table"),
        pytest.param("ALTER INDEX i RENAME TO j", "ALTER INDEX", id="alter-index-rename"),
        pytest.param("ALTER INDEX i SET (fillfactor = 70)", "ALTER INDEX", id="alter-index"),
        pytest.param("BEGIN", "BEGIN", id="begin"),
        pytest.param("START TRANSACTION", "START TRANSACTION", id="start-transaction"),
        pytest.param("COMMIT", "COMMIT", id="commit"),
        pytest.param("ROLLBACK", "ROLLBACK", id="rollback"),
        pytest.param("SET lock_timeout = '5s'", "SET", id="set"),
        pytest.param("RESET lock_timeout", "RESET", id="reset"),
        pytest.param("DROP INDEX CONCURRENTLY i", "DROP INDEX", id="drop-index"),
        pytest.param("REINDEX INDEX CONCURRENTLY i", "REINDEX", id="reindex"),
        pytest.param("INSERT INTO t VALUES (1)", "INSERT", id="insert"),
        pytest.param("SELECT 1", "SELECT", id="select"),
        pytest.param("CREATE EXTENSION pg_trgm", "CREATE EXTENSION", id="create-extension"),
        pytest.param(
            "CREATE MATERIALIZED VIEW v AS SELECT 1", "CREATE MATERIALIZED VIEW", id="matview"
        ),
        pytest.param("CREATE VIEW v AS SELECT 1", "CREATE VIEW", id="view"),
        pytest.param(
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END",
            "CREATE FUNCTION",
            id="function-with-atomic-body",
        ),
        pytest.param("DO $$ BEGIN NULL; END $$", "DO", id="do"),
        pytest.param("GRANT SELECT ON t TO PUBLIC", "GRANT", id="grant"),
        pytest.param("COMMENT ON INDEX i IS 'x'", "COMMENT", id="comment"),
    ],
)
def test_other_statements_are_skipped_with_a_note(sql: str, tag: str) -> None:
    result = convert(f"\n-- before\n{sql};\nCREATE INDEX i ON t (a);\n")
    assert result.errors == []
    assert result.notes == [f"m.sql:3: skipped {tag} statement"]
    assert len(result.manifests) == 1


def test_skipped_statements_exit_zero_and_go_to_stderr() -> None:
    path = FIXTURES / "mixed.sql"
    code, out, err = run([str(path)])
    assert code == 0
    assert err.splitlines() == [
        f"{path}:2: skipped BEGIN statement",
        f"{path}:4: skipped CREATE TABLE statement",
        f"{path}:10: skipped ALTER TABLE statement",
        f"{path}:15: skipped INSERT statement",
        f"{path}:18: skipped COMMIT statement",
    ]
    manifests = list(yaml.safe_load_all(out))
    assert [m["spec"] for m in manifests] == [
        spec(
            table="accounts",
            name="accounts_email_key",
            unique=True,
            columns=[{"expression": "lower(email)"}],
            where="deleted_at IS NULL",
        ),
        spec(
            schema="public",
            table="accounts",
            name="accounts_created_at_idx",
            columns=[{"column": "created_at", "order": "Desc"}],
        ),
    ]
    assert manifests[0]["metadata"]["annotations"] == {
        "dbindex.dev/description": "Login looks accounts up by e-mail, case-insensitively."
    }


@pytest.mark.parametrize(
    "sql",
    [
        pytest.param("CREATE TABLE t (a int);\n", id="only-other-statements"),
        pytest.param("", id="empty"),
        pytest.param("-- just a comment\n", id="only-comments"),
    ],
)
def test_no_create_index_is_exit_zero_with_a_note(sql: str) -> None:
    code, out, err = run(["-"], stdin=sql)
    assert (code, out) == (0, "")
    assert err.splitlines()[-1] == "<stdin>: no CREATE INDEX statements found"


# --- run(): inputs, output stream, usage errors --------------------------------------------------


def test_dash_reads_stdin() -> None:
    code, out, err = run(["-"], stdin="BEGIN;\nCREATE INDEX i ON t (a);\n")
    assert code == 0
    assert err == "<stdin>:1: skipped BEGIN statement\n"
    (manifest,) = yaml.safe_load_all(out)
    assert manifest["spec"] == spec(table="t", name="i", columns=A)


def test_multiple_files_in_order_as_one_stream() -> None:
    paths = [str(FIXTURES / "mixed.sql"), "-", str(FIXTURES / "unicode.sql")]
    code, out, _ = run(paths, stdin="CREATE INDEX from_stdin ON t (a);")
    assert code == 0
    assert out.startswith("---\n")
    assert out.count("\n---\n") == 3
    assert [m["spec"]["name"] for m in yaml.safe_load_all(out)] == [
        "accounts_email_key",
        "accounts_created_at_idx",
        "from_stdin",
        "labels_strasse",
    ]


def test_output_round_trips_through_yaml() -> None:
    result = convert("-- two\n-- lines\nCREATE INDEX é ON t ((a || 'ß')) WHERE a > 0\n  AND b < 1;")
    out = io.StringIO()
    importing.dump(result.manifests, out)
    assert list(yaml.safe_load_all(out.getvalue())) == result.manifests
    # Multi-line text is written as readable blocks, non-ASCII as itself.
    assert "where: |-\n    a > 0\n      AND b < 1\n" in out.getvalue()
    assert "dbindex.dev/description: |-\n      two\n      lines\n" in out.getvalue()
    assert "- expression: a || 'ß'\n" in out.getvalue()


def test_unreadable_file_is_a_usage_error_and_prints_nothing(tmp_path: Path) -> None:
    code, out, err = run([str(FIXTURES / "mixed.sql"), str(tmp_path / "missing.sql")])
    assert (code, out) == (2, "")
    assert err == f"{tmp_path / 'missing.sql'}: error: cannot read: No such file or directory\n"


def test_non_utf8_file_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.sql"
    path.write_bytes("CREATE INDEX café ON t (a);".encode("latin-1"))
    code, out, err = run([str(path)])
    assert (code, out) == (2, "")
    assert err.startswith(f"{path}: error: cannot read: ")


@pytest.mark.parametrize(
    ("paths", "overrides", "message"),
    [
        pytest.param([], {}, "error: no input files given", id="no-paths"),
        pytest.param(["-", "-"], {}, "given more than once", id="stdin-twice"),
        pytest.param(["-"], {"deletion_policy": "Keep"}, "deletion policy 'Keep'", id="policy"),
        pytest.param(["-"], {"secret": "Demo_DB"}, "not a valid Secret name", id="secret"),
        pytest.param(["-"], {"secret": ""}, "not a valid Secret name", id="empty-secret"),
        pytest.param(["-"], {"namespace": "a.b"}, "not a valid DNS-1123 label", id="namespace"),
        pytest.param(["-"], {"key": "a/b"}, "not a valid Secret key", id="key"),
    ],
)
def test_usage_errors_exit_two(paths: list[str], overrides: dict[str, Any], message: str) -> None:
    code, out, err = run(paths, stdin="CREATE INDEX i ON t (a);", **overrides)
    assert (code, out) == (2, "")
    assert message in err


def test_convert_rejects_bad_options() -> None:
    with pytest.raises(ValueError, match="deletion policy"):
        convert("CREATE INDEX i ON t (a)", deletion_policy="retain")


def test_help_epilog_documents_the_exit_codes() -> None:
    for code in ("0 ", "1 ", "2 "):
        assert f"\n  {code}" in importing.HELP_EPILOG


# --- the runbook ---------------------------------------------------------------------------------

RUNBOOK_INDEXES: list[tuple[str, str, list[str]]] = [
    ("idx_activities_user_type_date", "activities", ["user_id", "activity_type", "submitted_at"]),
    ("idx_efforts_segment_time", "segment_efforts", ["segment_id", "elapsed_time_seconds"]),
    (
        "idx_efforts_user_segment",
        "segment_efforts",
        ["user_id", "segment_id", "elapsed_time_seconds"],
    ),
    ("idx_notifications_user_unread", "notifications", ["user_id", "read_at"]),
    ("idx_notifications_user_time", "notifications", ["user_id", "created_at"]),
    ("idx_activities_feed", "activities", ["submitted_at"]),
    ("idx_follows_follower", "follows", ["follower_id", "created_at"]),
    ("idx_follows_following", "follows", ["following_id", "created_at"]),
    ("idx_kudos_activity", "kudos", ["activity_id", "created_at"]),
    ("idx_comments_activity", "comments", ["activity_id", "created_at"]),
    ("idx_segments_type", "segments", ["activity_type", "created_at"]),
    ("idx_segment_stars_user", "segment_stars", ["user_id", "created_at"]),
]


def test_runbook_gives_twelve_manifests() -> None:
    result = importing.convert(
        (SEED / "runbook.sql").read_text(encoding="utf-8"),
        "runbook.sql",
        namespace=None,
        secret="demo-db",
        key=None,
        deletion_policy="Retain",
    )
    assert result.errors == [] and result.notes == []
    got = [
        (m["spec"]["name"], m["spec"]["table"], [c["column"] for c in m["spec"]["columns"]])
        for m in result.manifests
    ]
    assert got == RUNBOOK_INDEXES
    assert [m["metadata"]["name"] for m in result.manifests] == [
        name.replace("_", "-") for name, _, _ in RUNBOOK_INDEXES
    ]
    by_name = {m["spec"]["name"]: m for m in result.manifests}
    assert by_name["idx_notifications_user_unread"]["spec"]["where"] == "read_at IS NULL"
    assert by_name["idx_activities_feed"]["spec"]["where"] == "visibility = 'public'"
    assert by_name["idx_activities_feed"]["spec"]["columns"] == [
        {"column": "submitted_at", "order": "Desc"}
    ]
    assert by_name["idx_efforts_segment_time"]["spec"]["columns"][1] == {
        "column": "elapsed_time_seconds",
        "order": "Asc",
    }
    # The runbook's header comments are separated by a blank line: not a description.
    assert by_name["idx_activities_user_type_date"]["metadata"]["annotations"] == {
        "dbindex.dev/description": "Activities: User's activities by type and date"
    }
    assert "annotations" not in by_name["idx_follows_following"]["metadata"]


def test_runbook_sql_is_the_guides_block_verbatim() -> None:
    """The statements in runbook.sql are the guide's, byte for byte, after our header."""
    text = (SEED / "runbook.sql").read_text(encoding="utf-8")
    header, _, body = text.partition("\n\n")
    assert all(line.startswith("-- ") for line in header.splitlines())
    assert body.startswith("-- Connect to production database and run each index separately\n")
    assert body.count("CREATE INDEX CONCURRENTLY IF NOT EXISTS") == 12


def test_seed_indexes_yaml_is_the_importers_output() -> None:
    """Regenerate with: dbindex-operator import --secret demo-db examples/seed/runbook.sql
    > examples/seed/indexes.yaml"""
    code, out, err = run([str(SEED / "runbook.sql")], secret="demo-db")
    assert (code, err) == (0, "")
    assert out == (SEED / "indexes.yaml").read_text(encoding="utf-8")


# --- the seams between the stages ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("diagnostic", "line"),
    [
        pytest.param(
            importing.Diagnostic("m.sql", 3, "skipped SET statement"),
            "m.sql:3: skipped SET statement",
            id="note",
        ),
        pytest.param(
            importing.Diagnostic("m.sql", 3, "bad", error=True), "m.sql:3: error: bad", id="error"
        ),
        pytest.param(
            importing.Diagnostic("<stdin>", None, "none found"), "<stdin>: none found", id="file"
        ),
        pytest.param(
            importing.Diagnostic("a b.sql", None, "x", error=True),
            "a b.sql: error: x",
            id="file-error",
        ),
    ],
)
def test_diagnostic_lines(diagnostic: importing.Diagnostic, line: str) -> None:
    assert str(diagnostic) == line


@pytest.mark.parametrize(
    ("sql", "statements", "errors"),
    [
        pytest.param("", [], [], id="empty"),
        pytest.param(
            "-- c\nBEGIN;\n\n/* x */ CREATE INDEX i\nON t (a);\nSELECT 1",
            [("TransactionStmt", 2), ("IndexStmt", 4), ("SelectStmt", 6)],
            [],
            id="lines-of-first-code-tokens",
        ),
        pytest.param(
            "SELECT 1;\nSELEC 2;\nSELECT 3;\nSELECT (;\n",
            [("SelectStmt", 1), ("SelectStmt", 3)],
            [
                'm.sql:2: error: syntax error: syntax error at or near "SELEC"',
                "m.sql:4: error: syntax error: syntax error at end of input",
            ],
            id="errors-one-by-one",
        ),
        pytest.param(
            "SELECT 1;\nSELECT (\n\n",
            [("SelectStmt", 1)],
            ["m.sql:2: error: syntax error: syntax error at end of input"],
            id="end-of-input-is-the-last-non-blank-line",
        ),
        pytest.param(
            "SELECT 1;\n'open",
            [],
            ['m.sql:2: error: syntax error: unterminated quoted string at or near "\'open"'],
            id="lexer-error-stops-the-file",
        ),
    ],
)
def test_parse_split_locates_statements_and_syntax_errors(
    sql: str, statements: list[tuple[str, int]], errors: list[str]
) -> None:
    file, parsed, syntax_errors = parse.split(sql, "m.sql")
    assert [(type(s.node).__name__, parse.head(file, s)[1]) for s in parsed] == statements
    assert [str(d) for d in syntax_errors] == errors


def _key_and_where_texts(sql: str) -> tuple[list[str | None], str | None]:
    file, (statement,), _ = parse.split(sql, "m.sql")
    first, _ = parse.head(file, statement)
    tokens = parse.code_tokens(file, first, statement.end)
    assert isinstance(statement.node, ast.IndexStmt) and statement.node.relation is not None
    spans = importing_text.element_spans(tokens, statement.node.relation.location or 0)
    assert spans is not None

    def cut(span: tuple[int, int] | None) -> str | None:
        return None if span is None else sql[span[0] : span[1] + 1]

    keys = [cut(importing_text.expression_span(tokens, *s)) for s in spans]
    return keys, cut(importing_text.where_span(tokens))


@pytest.mark.parametrize(
    ("sql", "keys", "where"),
    [
        pytest.param(
            'CREATE INDEX i ON t ((a + 1), lower(b) DESC, c COLLATE "C", CURRENT_DATE, ( (y) ),'
            " coalesce(a, (b)) text_ops) WHERE (a > 0) AND b;",
            ["a + 1", "lower(b)", "c", "CURRENT_DATE", "(y)", "coalesce(a, (b))"],
            "(a > 0) AND b",
            id="every-key-shape",
        ),
        pytest.param(
            "CREATE INDEX i ON s.t USING gin (f(a) DESC NULLS LAST) INCLUDE (b) WHERE a IN (1, 2)",
            ["f(a)"],
            "a IN (1, 2)",
            id="include-before-where",
        ),
        pytest.param(
            "CREATE INDEX i ON t (a) WITH (fillfactor = 70) TABLESPACE x",
            ["a"],
            None,
            id="no-where",
        ),
    ],
)
def test_text_spans_of_keys_and_predicate(sql: str, keys: list[str], where: str | None) -> None:
    assert _key_and_where_texts(sql) == (keys, where)


@pytest.mark.parametrize(
    ("base", "taken", "name"),
    [
        pytest.param("a", set(), "a", id="free"),
        pytest.param("a", {"a"}, "a-2", id="second"),
        pytest.param("a", {"a", "a-2", "a-3"}, "a-4", id="fourth"),
        pytest.param("x" * 63, {"x" * 63}, "x" * 61 + "-2", id="63-characters"),
        pytest.param("x" * 60 + "-yy", {"x" * 60 + "-yy"}, "x" * 60 + "-2", id="no-double-dash"),
    ],
)
def test_render_unique_name(base: str, taken: set[str], name: str) -> None:
    before = set(taken)
    assert render.unique_name(base, taken) == name
    assert taken == before | {name}


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        pytest.param("-- words  ", "words", id="line"),
        pytest.param("---- dashes", "dashes", id="many-dashes"),
        pytest.param("--", "", id="empty-line"),
        pytest.param("/* one */", "one", id="block"),
        pytest.param("/*\n * a\n *  b\n   c\n */", "\na\nb\nc\n", id="block-lines"),
    ],
)
def test_render_comment_text(raw: str, words: str) -> None:
    assert render.comment_text(raw) == words


@pytest.mark.parametrize(
    ("sql", "tag"),
    [
        pytest.param("CREATE PROCEDURE p() LANGUAGE sql AS 'SELECT 1'", "CREATE PROCEDURE"),
        pytest.param("REVOKE SELECT ON t FROM PUBLIC", "REVOKE"),
        pytest.param("CREATE SEQUENCE s", "CREATE SEQUENCE"),
        pytest.param("DROP MATERIALIZED VIEW v", "DROP MATERIALIZED VIEW"),
        pytest.param("ALTER FOREIGN TABLE f ADD COLUMN a int", "ALTER FOREIGN TABLE"),
        pytest.param("ALTER TABLE t RENAME TO u", "ALTER TABLE"),
        pytest.param("PREPARE TRANSACTION 'x'", "PREPARE TRANSACTION"),
        pytest.param("SAVEPOINT s", "SAVEPOINT"),
        pytest.param("RESET ALL", "RESET"),
        pytest.param("SET LOCAL x = 1", "SET"),
        pytest.param("CREATE TABLE t2 AS SELECT 1", "CREATE TABLE"),
        pytest.param("CREATE TYPE e AS ENUM ('a')", "CREATE TYPE"),
        pytest.param("TRUNCATE t", "TRUNCATE"),
        pytest.param("UPDATE t SET a = 1", "UPDATE"),
    ],
)
def test_tags_of_skipped_statements(sql: str, tag: str) -> None:
    (raw,) = parser.parse_sql(sql)
    assert raw.stmt is not None
    assert tags.statement_tag(raw.stmt) == tag
