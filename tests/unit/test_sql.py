"""sql: quoting, and the exact DDL text rendered from an IndexSpec."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from dbindex_operator.core import spec as specs
from dbindex_operator.core import sql
from tests.unit.builders import index_spec


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("orders", "orders", id="plain"),
        pytest.param("_private", "_private", id="leading-underscore"),
        pytest.param("col_2", "col_2", id="digits"),
        pytest.param("a$b", "a$b", id="dollar-inside"),
        pytest.param("name", "name", id="unreserved-keyword"),
        pytest.param("index", "index", id="unreserved-keyword-index"),
        pytest.param("filter", "filter", id="unreserved-keyword-filter"),
        pytest.param("select", '"select"', id="reserved-keyword"),
        pytest.param("user", '"user"', id="reserved-user"),
        pytest.param("order", '"order"', id="reserved-order"),
        pytest.param("integer", '"integer"', id="col-name-keyword"),
        pytest.param("between", '"between"', id="col-name-keyword-between"),
        pytest.param("left", '"left"', id="type-func-name-keyword"),
        pytest.param("collation", '"collation"', id="type-func-name-collation"),
        pytest.param("Orders", '"Orders"', id="uppercase"),
        pytest.param("SELECT", '"SELECT"', id="uppercase-keyword"),
        pytest.param("order lines", '"order lines"', id="space"),
        pytest.param("1st", '"1st"', id="leading-digit"),
        pytest.param("$a", '"$a"', id="leading-dollar"),
        pytest.param("a-b", '"a-b"', id="dash"),
        pytest.param("café", '"café"', id="unicode"),
        pytest.param("日本", '"日本"', id="cjk"),
        pytest.param('Weird "Name"', '"Weird ""Name"""', id="embedded-quotes"),
        pytest.param('"', '""""', id="only-quote"),
        pytest.param("abc\n", '"abc\n"', id="trailing-newline"),
    ],
)
def test_ident(name: str, expected: str) -> None:
    assert sql.ident(name) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("70", "'70'", id="plain"),
        pytest.param("", "''", id="empty"),
        pytest.param("it's", "'it''s'", id="quote-doubled"),
        pytest.param("''", "''''''", id="only-quotes"),
        pytest.param("a\\b", "'a\\b'", id="backslash-kept"),
        pytest.param("x'); DROP TABLE t; --", "'x''); DROP TABLE t; --'", id="injection"),
    ],
)
def test_literal(value: str, expected: str) -> None:
    assert sql.literal(value) == expected


@pytest.mark.parametrize(
    ("schema", "name", "expected"),
    [
        pytest.param("public", "orders", "public.orders", id="plain"),
        pytest.param("Sales", "order lines", '"Sales"."order lines"', id="both-quoted"),
        pytest.param("user", "t", '"user".t', id="keyword-schema"),
        pytest.param("a.b", "c", '"a.b".c', id="dot-in-name"),
    ],
)
def test_qualified(schema: str, name: str, expected: str) -> None:
    assert sql.qualified(schema, name) == expected


_BASE = "CREATE INDEX CONCURRENTLY orders_by_customer ON public.orders USING btree"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param({}, f"{_BASE} (customer_id)", id="minimal"),
        pytest.param(
            {"unique": True},
            "CREATE UNIQUE INDEX CONCURRENTLY orders_by_customer ON public.orders USING btree "
            "(customer_id)",
            id="unique",
        ),
        pytest.param(
            {"name": "Orders Idx"},
            'CREATE INDEX CONCURRENTLY "Orders Idx" ON public.orders USING btree (customer_id)',
            id="name-quoted",
        ),
        pytest.param(
            {"schema": "Sales", "table": "select"},
            'CREATE INDEX CONCURRENTLY orders_by_customer ON "Sales"."select" USING btree '
            "(customer_id)",
            id="schema-and-table-quoted",
        ),
        pytest.param(
            {"method": "gin"},
            "CREATE INDEX CONCURRENTLY orders_by_customer ON public.orders USING gin (customer_id)",
            id="method",
        ),
        pytest.param(
            {"columns": [{"column": "a"}, {"column": "Order Date"}]},
            f'{_BASE} (a, "Order Date")',
            id="two-columns",
        ),
        pytest.param(
            {"columns": [{"expression": "lower(email)"}]},
            f"{_BASE} ((lower(email)))",
            id="expression-parenthesised",
        ),
        pytest.param(
            {"columns": [{"column": "a", "order": "Desc"}]}, f"{_BASE} (a DESC)", id="desc"
        ),
        pytest.param({"columns": [{"column": "a", "order": "Asc"}]}, f"{_BASE} (a)", id="asc"),
        pytest.param(
            {"columns": [{"column": "a", "nulls": "First"}]},
            f"{_BASE} (a NULLS FIRST)",
            id="nulls-first",
        ),
        pytest.param(
            {"columns": [{"column": "a", "nulls": "Last"}]},
            f"{_BASE} (a NULLS LAST)",
            id="nulls-last",
        ),
        pytest.param(
            {"columns": [{"column": "a", "collation": "C"}]},
            f'{_BASE} (a COLLATE "C")',
            id="collation",
        ),
        pytest.param(
            {"columns": [{"column": "a", "collation": "en_US.utf8"}]},
            f'{_BASE} (a COLLATE "en_US.utf8")',
            id="collation-with-dot-not-split",
        ),
        pytest.param(
            {"columns": [{"column": "a", "opclass": "text_pattern_ops"}]},
            f"{_BASE} (a text_pattern_ops)",
            id="opclass",
        ),
        pytest.param(
            {"columns": [{"column": "a", "opclass": "My Schema.My_Ops"}]},
            f'{_BASE} (a "My Schema"."My_Ops")',
            id="qualified-opclass",
        ),
        pytest.param(
            {
                "columns": [
                    {
                        "column": "a",
                        "collation": "C",
                        "opclass": "text_pattern_ops",
                        "order": "Desc",
                        "nulls": "Last",
                    }
                ]
            },
            f'{_BASE} (a COLLATE "C" text_pattern_ops DESC NULLS LAST)',
            id="key-clause-order",
        ),
        pytest.param({"include": ["b", "C"]}, f'{_BASE} (customer_id) INCLUDE (b, "C")', id="incl"),
        pytest.param(
            {"unique": True, "nullsNotDistinct": True},
            "CREATE UNIQUE INDEX CONCURRENTLY orders_by_customer ON public.orders USING btree "
            "(customer_id) NULLS NOT DISTINCT",
            id="nulls-not-distinct",
        ),
        pytest.param(
            {"storageParameters": {"fillfactor": "70", "deduplicate_items": "off"}},
            f"{_BASE} (customer_id) WITH (deduplicate_items = 'off', fillfactor = '70')",
            id="storage-parameters-sorted",
        ),
        pytest.param(
            {"tablespace": "fast"}, f"{_BASE} (customer_id) TABLESPACE fast", id="tablespace"
        ),
        pytest.param(
            {"tablespace": "Fast SSD"},
            f'{_BASE} (customer_id) TABLESPACE "Fast SSD"',
            id="tablespace-quoted",
        ),
        pytest.param(
            {"where": "deleted_at IS NULL"},
            f"{_BASE} (customer_id) WHERE (deleted_at IS NULL)",
            id="where",
        ),
        pytest.param(
            {"where": " a > 0 OR b > 0 "},
            f"{_BASE} (customer_id) WHERE (a > 0 OR b > 0)",
            id="where-stripped-and-parenthesised",
        ),
    ],
)
def test_create_index_each_field(fields: dict[str, Any], expected: str) -> None:
    assert sql.create_index(index_spec(**fields)) == expected


def test_storage_value_is_quoted_even_past_validation() -> None:
    """spec.parse refuses such a value (core/reloptions.py); the SQL quotes it all the same."""
    spec = dataclasses.replace(index_spec(), storage_parameters=(("fillfactor", "7'0"),))
    assert sql.create_index(spec) == f"{_BASE} (customer_id) WITH (fillfactor = '7''0')"


def test_create_index_every_field_in_grammar_order() -> None:
    spec = index_spec(
        "ignored",
        schema="Sales",
        table="order lines",
        name="ol_idx",
        unique=True,
        nullsNotDistinct=True,
        columns=[
            {"column": "customer_id", "order": "Desc", "nulls": "Last"},
            {"expression": "lower(email)", "collation": "C", "opclass": "text_pattern_ops"},
        ],
        include=["total", "Status"],
        storageParameters={"fillfactor": "90"},
        tablespace="fast",
        where="deleted_at IS NULL",
    )

    assert sql.create_index(spec) == (
        'CREATE UNIQUE INDEX CONCURRENTLY ol_idx ON "Sales"."order lines" USING btree '
        '(customer_id DESC NULLS LAST, (lower(email)) COLLATE "C" text_pattern_ops) '
        "INCLUDE (total, \"Status\") NULLS NOT DISTINCT WITH (fillfactor = '90') "
        "TABLESPACE fast WHERE (deleted_at IS NULL)"
    )


@pytest.mark.parametrize(
    ("concurrently", "table", "expected"),
    [
        pytest.param(
            False,
            None,
            "CREATE INDEX orders_by_customer ON public.orders USING btree (customer_id) "
            "WHERE (a > 0)",
            id="not-concurrently",
        ),
        pytest.param(
            False,
            "pg_temp.dbindex_probe",
            "CREATE INDEX orders_by_customer ON pg_temp.dbindex_probe USING btree (customer_id) "
            "WHERE (a > 0)",
            id="scratch-table",
        ),
        pytest.param(
            True,
            "pg_temp.dbindex_probe",
            "CREATE INDEX CONCURRENTLY orders_by_customer ON pg_temp.dbindex_probe USING btree "
            "(customer_id) WHERE (a > 0)",
            id="concurrently-on-scratch",
        ),
    ],
)
def test_create_index_options(concurrently: bool, table: str | None, expected: str) -> None:
    spec = index_spec(where="a > 0")
    assert sql.create_index(spec, concurrently=concurrently, table=table) == expected


@pytest.mark.parametrize(
    ("schema", "name", "expected"),
    [
        pytest.param("public", "idx", "DROP INDEX CONCURRENTLY IF EXISTS public.idx", id="plain"),
        pytest.param(
            "Sales",
            'my "idx"',
            'DROP INDEX CONCURRENTLY IF EXISTS "Sales"."my ""idx"""',
            id="quoted",
        ),
        pytest.param(
            "public",
            "idx; DROP TABLE t",
            'DROP INDEX CONCURRENTLY IF EXISTS public."idx; DROP TABLE t"',
            id="injection-stays-a-name",
        ),
    ],
)
def test_drop_index(schema: str, name: str, expected: str) -> None:
    assert sql.drop_index(schema, name) == expected


@pytest.mark.parametrize(
    ("build", "schema", "expected"),
    [
        pytest.param(
            specs.BuildOptions(),
            "public",
            {
                "application_name": "dbindex-operator",
                "lock_timeout": "1min",
                "statement_timeout": "0",
                "search_path": "public",
                "client_connection_check_interval": "2s",
            },
            id="defaults-omit-optional",
        ),
        pytest.param(
            specs.BuildOptions("30s", "2h", "1GB", 0),
            "My Schema",
            {
                "application_name": "dbindex-operator",
                "lock_timeout": "30s",
                "statement_timeout": "2h",
                "search_path": '"My Schema"',
                "client_connection_check_interval": "2s",
                "maintenance_work_mem": "1GB",
                "max_parallel_maintenance_workers": "0",
            },
            id="every-option",
        ),
        pytest.param(
            specs.BuildOptions(maintenance_work_mem="256MB"),
            "public",
            {
                "application_name": "dbindex-operator",
                "lock_timeout": "1min",
                "statement_timeout": "0",
                "search_path": "public",
                "client_connection_check_interval": "2s",
                "maintenance_work_mem": "256MB",
            },
            id="memory-only",
        ),
        pytest.param(
            specs.BuildOptions(parallel_workers=4),
            "user",
            {
                "application_name": "dbindex-operator",
                "lock_timeout": "1min",
                "statement_timeout": "0",
                "search_path": '"user"',
                "client_connection_check_interval": "2s",
                "max_parallel_maintenance_workers": "4",
            },
            id="workers-only",
        ),
    ],
)
def test_session_settings(build: specs.BuildOptions, schema: str, expected: dict[str, str]) -> None:
    settings = sql.session_settings(
        build, schema=schema, check_interval="2s", application_name="dbindex-operator"
    )
    assert settings == expected


def test_probe_statements_build_the_same_index_on_an_empty_copy() -> None:
    spec = specs.parse(
        {
            "connection": {"secretRef": {"name": "db"}},
            "schema": "App",
            "table": "orders",
            "columns": [{"expression": "lower(email)"}],
            "where": "id > 0",
        },
        object_name="orders-email",
    )
    assert sql.probe_statements(spec, "dbindex_probe") == [
        'SET LOCAL search_path = "App"',
        'CREATE TEMP TABLE dbindex_probe (LIKE "App".orders) ON COMMIT DROP',
        "CREATE INDEX orders_email ON pg_temp.dbindex_probe USING btree ((lower(email))) "
        "WHERE (id > 0)",
    ]
