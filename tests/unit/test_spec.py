"""spec.parse: defaults, identifier rules, cross-field rules and option formats."""

from __future__ import annotations

from typing import Any

import pytest

from dbindex_operator.core import errors
from dbindex_operator.core import spec as specs
from tests.unit.builders import index_spec, spec_dict


def test_minimal_spec_gets_every_default() -> None:
    parsed = index_spec("orders-by-customer")

    assert parsed == specs.IndexSpec(
        connection=specs.ConnectionRef(secret_name="db", key=None),
        schema="public",
        table="orders",
        name="orders_by_customer",
        keys=(specs.IndexKey(column="customer_id"),),
        method="btree",
        unique=False,
        include=(),
        where=None,
        nulls_not_distinct=False,
        tablespace=None,
        storage_parameters=(),
        delete_with_object=False,
        build=specs.BuildOptions(
            lock_timeout="1min",
            statement_timeout="0",
            maintenance_work_mem=None,
            parallel_workers=None,
        ),
        retry=specs.RetryPolicy(max_attempts=5, initial_backoff=10.0, max_backoff=600.0),
    )


def test_every_field_is_parsed() -> None:
    parsed = index_spec(
        "ignored",
        connection={"secretRef": {"name": "pg", "key": "uri"}},
        schema="Sales",
        table="Order Lines",
        name="ol_idx",
        method="btree",
        unique=True,
        nullsNotDistinct=True,
        columns=[
            {"column": "a", "order": "Desc", "nulls": "Last", "collation": "C"},
            {"expression": " lower(b) ", "opclass": "pg_catalog.text_pattern_ops"},
            {"column": "c", "order": "Asc", "nulls": "First", "opclass": "int4_ops"},
        ],
        include=["d", "e"],
        where=" deleted_at IS NULL ",
        tablespace="fast",
        storageParameters={"fillfactor": "70", "deduplicate_items": "off"},
        deletionPolicy="Delete",
        build={
            "lockTimeout": "30s",
            "statementTimeout": "2h",
            "maintenanceWorkMem": "256MB",
            "parallelWorkers": 4,
        },
        retry={"maxAttempts": 3, "initialBackoffSeconds": 2, "maxBackoffSeconds": 60},
    )

    assert parsed == specs.IndexSpec(
        connection=specs.ConnectionRef(secret_name="pg", key="uri"),
        schema="Sales",
        table="Order Lines",
        name="ol_idx",
        keys=(
            specs.IndexKey(column="a", descending=True, nulls_first=False, collation="C"),
            specs.IndexKey(expression="lower(b)", opclass="pg_catalog.text_pattern_ops"),
            specs.IndexKey(column="c", descending=False, nulls_first=True, opclass="int4_ops"),
        ),
        method="btree",
        unique=True,
        include=("d", "e"),
        where="deleted_at IS NULL",
        nulls_not_distinct=True,
        tablespace="fast",
        storage_parameters=(("deduplicate_items", "off"), ("fillfactor", "70")),
        delete_with_object=True,
        build=specs.BuildOptions("30s", "2h", "256MB", 4),
        retry=specs.RetryPolicy(3, 2.0, 60.0),
    )


def test_parsed_spec_is_frozen() -> None:
    parsed = index_spec()
    with pytest.raises(AttributeError):
        parsed.name = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("object_name", "name_field", "expected"),
    [
        pytest.param("orders-by-customer", None, "orders_by_customer", id="dashes-to-underscores"),
        pytest.param("a-b-c-d", None, "a_b_c_d", id="every-dash"),
        pytest.param("plain", None, "plain", id="no-dash"),
        pytest.param("orders-idx", "", "orders_idx", id="empty-name-uses-object-name"),
        pytest.param("orders-idx", "Explicit-Name", "Explicit-Name", id="explicit-name-kept"),
    ],
)
def test_index_name(object_name: str, name_field: str | None, expected: str) -> None:
    fields: dict[str, Any] = {} if name_field is None else {"name": name_field}
    assert index_spec(object_name, **fields).name == expected


@pytest.mark.parametrize(
    ("method", "expected"),
    [pytest.param(m, m, id=m) for m in ("btree", "hash", "gist", "spgist", "gin", "brin")],
)
def test_every_method_is_accepted(method: str, expected: str) -> None:
    assert index_spec(method=method).method == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("a" * 63, "a" * 63, id="63-ascii-bytes"),
        pytest.param("é" * 31 + "a", "é" * 31 + "a", id="63-utf8-bytes"),
        pytest.param("Mixed Case", "Mixed Case", id="space-and-case"),
        pytest.param("select", "select", id="keyword"),
        pytest.param("a-b", "a-b", id="single-dash"),
        pytest.param("a/b", "a/b", id="single-slash"),
        pytest.param("a*b", "a*b", id="single-star"),
        pytest.param("日本", "日本", id="unicode"),
        pytest.param("a$b", "a$b", id="dollar"),
        pytest.param("it's", "it's", id="single-quote"),
    ],
)
def test_identifier_accepted(value: str, expected: str) -> None:
    assert specs.identifier(value, "table") == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param("", "table must be a non-empty string", id="empty"),
        pytest.param(None, "table must be a non-empty string", id="none"),
        pytest.param(42, "table must be a non-empty string", id="number"),
        pytest.param(
            "a" * 64, "table is longer than 63 bytes: '" + "a" * 64 + "'", id="64-ascii-bytes"
        ),
        pytest.param(
            "é" * 32, "table is longer than 63 bytes: '" + "é" * 32 + "'", id="64-utf8-bytes"
        ),
    ],
)
def test_identifier_rejected_shape(value: Any, message: str) -> None:
    with pytest.raises(errors.SpecError) as info:
        specs.identifier(value, "table")
    assert info.value.message == message


@pytest.mark.parametrize(
    "value",
    [
        pytest.param('a"b', id="double-quote"),
        pytest.param("a;b", id="semicolon"),
        pytest.param("a\\b", id="backslash"),
        pytest.param("a--b", id="line-comment"),
        pytest.param("a/*b", id="block-comment-open"),
        pytest.param("a*/b", id="block-comment-close"),
        pytest.param("a\nb", id="newline"),
        pytest.param("a\tb", id="tab"),
        pytest.param("a\x00b", id="nul"),
        pytest.param("a\x1fb", id="unit-separator"),
        pytest.param("a\x7fb", id="delete"),
        pytest.param('orders"; DROP TABLE t; --', id="injection"),
    ],
)
def test_identifier_rejected_characters(value: str) -> None:
    with pytest.raises(errors.SpecError) as info:
        specs.identifier(value, "table")
    assert info.value.message == (
        f"table {value!r} contains characters not allowed in names here "
        "(quotes, ';', backslashes, control characters or comment markers)"
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        pytest.param(
            {"method": "bloom"},
            "method must be one of btree, hash, gist, spgist, gin, brin, got 'bloom'",
            id="unknown-method",
        ),
        pytest.param(
            {"method": "BTREE"},
            "method must be one of btree, hash, gist, spgist, gin, brin, got 'BTREE'",
            id="method-is-case-sensitive",
        ),
        pytest.param(
            {"unique": True, "method": "hash"},
            "unique indexes are supported only by btree",
            id="unique-hash",
        ),
        pytest.param(
            {"unique": True, "method": "gist"},
            "unique indexes are supported only by btree",
            id="unique-gist",
        ),
        pytest.param(
            {"nullsNotDistinct": True},
            "nullsNotDistinct requires unique",
            id="nulls-not-distinct-without-unique",
        ),
        pytest.param({"columns": []}, "at least one column is required", id="no-columns"),
        pytest.param({"columns": None}, "at least one column is required", id="null-columns"),
        pytest.param(
            {"columns": [{}]},
            "columns[0] needs exactly one of column or expression",
            id="key-with-neither",
        ),
        pytest.param(
            {"columns": [{"column": "a"}, {"column": "b", "expression": "lower(b)"}]},
            "columns[1] needs exactly one of column or expression",
            id="key-with-both",
        ),
        pytest.param(
            {"columns": [{"column": "a", "order": "desc"}]},
            "columns[0].order must be Asc or Desc",
            id="bad-order",
        ),
        pytest.param(
            {"columns": [{"column": "a", "nulls": "last"}]},
            "columns[0].nulls must be First or Last",
            id="bad-nulls",
        ),
        pytest.param(
            {"method": "hash", "columns": [{"column": "a", "order": "Desc"}]},
            "columns[0]: order and nulls are supported only by btree",
            id="order-on-hash",
        ),
        pytest.param(
            {"method": "gist", "columns": [{"column": "a", "nulls": "First"}]},
            "columns[0]: order and nulls are supported only by btree",
            id="nulls-on-gist",
        ),
        pytest.param(
            {"method": "brin", "columns": [{"column": "a", "order": "Asc"}]},
            "columns[0]: order and nulls are supported only by btree",
            id="explicit-asc-on-brin",
        ),
        pytest.param(
            {"method": "hash", "include": ["b"]},
            "include is supported only by btree, gist and spgist",
            id="include-on-hash",
        ),
        pytest.param(
            {"method": "gin", "include": ["b"]},
            "include is supported only by btree, gist and spgist",
            id="include-on-gin",
        ),
        pytest.param(
            {"method": "brin", "include": ["b"]},
            "include is supported only by btree, gist and spgist",
            id="include-on-brin",
        ),
        pytest.param(
            {"include": ["ok", 'bad"']},
            "include[1] 'bad\"' contains characters not allowed in names here "
            "(quotes, ';', backslashes, control characters or comment markers)",
            id="bad-include-name",
        ),
        pytest.param(
            {"deletionPolicy": "Orphan"},
            "deletionPolicy must be Retain or Delete, got 'Orphan'",
            id="bad-deletion-policy",
        ),
        pytest.param(
            {"connection": {"secretRef": {"name": ""}}},
            "connection.secretRef.name must be a non-empty string",
            id="empty-secret-name",
        ),
        pytest.param(
            {"connection": {"secretRef": {"name": "db", "key": ""}}},
            "connection.secretRef.key must be a non-empty string",
            id="empty-secret-key",
        ),
        pytest.param({"connection": {}}, "malformed spec: 'secretRef'", id="no-secret-ref"),
        pytest.param(
            {"schema": "a;b"},
            "schema 'a;b' contains characters not allowed in names here "
            "(quotes, ';', backslashes, control characters or comment markers)",
            id="bad-schema",
        ),
        pytest.param({"table": ""}, "table must be a non-empty string", id="empty-table"),
        pytest.param(
            {"name": "x" * 64},
            "name is longer than 63 bytes: '" + "x" * 64 + "'",
            id="long-name",
        ),
        pytest.param(
            {"tablespace": "ts--x"},
            "tablespace 'ts--x' contains characters not allowed in names here "
            "(quotes, ';', backslashes, control characters or comment markers)",
            id="bad-tablespace",
        ),
        pytest.param(
            {"columns": [{"column": "a", "collation": "C;"}]},
            "columns[0].collation 'C;' contains characters not allowed in names here "
            "(quotes, ';', backslashes, control characters or comment markers)",
            id="bad-collation",
        ),
        pytest.param(
            {"columns": [{"expression": "a; DROP TABLE t"}]},
            "columns[0].expression: ';' is not allowed",
            id="bad-expression",
        ),
        pytest.param(
            {"where": "a) OR (true"},
            "where has an unbalanced ')'",
            id="bad-where",
        ),
    ],
)
def test_spec_rejected(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(errors.SpecError) as info:
        index_spec(**fields)
    assert info.value.message == message


def test_missing_table_is_malformed() -> None:
    spec = spec_dict()
    del spec["table"]
    with pytest.raises(errors.SpecError) as info:
        specs.parse(spec, object_name="x")
    assert info.value.message == "malformed spec: 'table'"


@pytest.mark.parametrize(
    ("fields", "unique", "nulls_not_distinct", "include"),
    [
        pytest.param({"unique": True}, True, False, (), id="unique-btree"),
        pytest.param(
            {"unique": True, "nullsNotDistinct": True}, True, True, (), id="nulls-not-distinct"
        ),
        pytest.param({"method": "gist", "include": ["b"]}, False, False, ("b",), id="gist-include"),
        pytest.param(
            {"method": "spgist", "include": ["b", "c"]},
            False,
            False,
            ("b", "c"),
            id="spgist-include",
        ),
        pytest.param({"include": []}, False, False, (), id="empty-include-on-btree"),
        pytest.param({"method": "hash", "include": []}, False, False, (), id="empty-include-hash"),
    ],
)
def test_cross_field_accepted(
    fields: dict[str, Any], unique: bool, nulls_not_distinct: bool, include: tuple[str, ...]
) -> None:
    parsed = index_spec(**fields)
    assert (parsed.unique, parsed.nulls_not_distinct, parsed.include) == (
        unique,
        nulls_not_distinct,
        include,
    )


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        pytest.param({"column": "a"}, specs.IndexKey(column="a"), id="plain"),
        pytest.param(
            {"column": "a", "order": "Desc"},
            specs.IndexKey(column="a", descending=True, nulls_first=None),
            id="desc-default-nulls",
        ),
        pytest.param(
            {"column": "a", "order": "Asc"},
            specs.IndexKey(column="a", descending=False),
            id="asc",
        ),
        pytest.param(
            {"column": "a", "nulls": "First"},
            specs.IndexKey(column="a", nulls_first=True),
            id="nulls-first",
        ),
        pytest.param(
            {"column": "a", "nulls": "Last"},
            specs.IndexKey(column="a", nulls_first=False),
            id="nulls-last",
        ),
        pytest.param(
            {"column": "a", "opclass": "text_pattern_ops"},
            specs.IndexKey(column="a", opclass="text_pattern_ops"),
            id="opclass",
        ),
        pytest.param(
            {"column": "a", "opclass": "my schema.My Ops"},
            specs.IndexKey(column="a", opclass="my schema.My Ops"),
            id="schema-qualified-opclass",
        ),
        pytest.param(
            {"column": "a", "collation": "en_US.utf8"},
            specs.IndexKey(column="a", collation="en_US.utf8"),
            id="collation-with-dot",
        ),
        pytest.param(
            {"expression": "(a + b)"},
            specs.IndexKey(expression="(a + b)"),
            id="expression",
        ),
    ],
)
def test_key(entry: dict[str, Any], expected: specs.IndexKey) -> None:
    assert index_spec(columns=[entry]).keys == (expected,)


@pytest.mark.parametrize(
    ("opclass", "message"),
    [
        pytest.param(
            "a.",
            "columns[0].opclass must be a non-empty string",
            id="empty-opclass-part",
        ),
        pytest.param(
            ".ops",
            "columns[0].opclass must be a non-empty string",
            id="empty-schema-part",
        ),
        pytest.param(
            "s.o;ps",
            "columns[0].opclass 'o;ps' contains characters not allowed in names here "
            "(quotes, ';', backslashes, control characters or comment markers)",
            id="bad-opclass-part",
        ),
        pytest.param(
            's"x.ops',
            "columns[0].opclass 's\"x' contains characters not allowed in names here "
            "(quotes, ';', backslashes, control characters or comment markers)",
            id="bad-schema-part",
        ),
        pytest.param(7, "columns[0].opclass must be a string", id="not-a-string"),
        pytest.param(
            "s." + "o" * 64,
            "columns[0].opclass is longer than 63 bytes: '" + "o" * 64 + "'",
            id="long-part",
        ),
    ],
)
def test_opclass_rejected(opclass: Any, message: str) -> None:
    with pytest.raises(errors.SpecError) as info:
        index_spec(columns=[{"column": "a", "opclass": opclass}])
    assert info.value.message == message


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        pytest.param({}, (), id="none"),
        pytest.param({"fillfactor": "70"}, (("fillfactor", "70"),), id="one"),
        pytest.param(
            {"deduplicate_items": "on", "fillfactor": "90"},
            (("deduplicate_items", "on"), ("fillfactor", "90")),
            id="sorted-by-name",
        ),
        pytest.param({"fillfactor": " 0x5A "}, (("fillfactor", " 0x5A "),), id="kept-as-written"),
    ],
)
def test_storage_parameters_accepted(
    params: dict[str, str], expected: tuple[tuple[str, str], ...]
) -> None:
    assert index_spec(storageParameters=params).storage_parameters == expected


def test_storage_parameters_are_checked_for_the_method() -> None:
    """The method decides which names exist (core/reloptions.py has the table)."""
    brin = index_spec(method="brin", storageParameters={"pages_per_range": "32"})
    assert brin.storage_parameters == (("pages_per_range", "32"),)
    with pytest.raises(errors.SpecError) as info:
        index_spec(storageParameters={"pages_per_range": "32"})
    assert info.value.message == (
        "storageParameters: 'pages_per_range' is not a storage parameter of btree indexes "
        "(valid: deduplicate_items, fillfactor, vacuum_cleanup_index_scale_factor)"
    )


@pytest.mark.parametrize(
    ("params", "message"),
    [
        pytest.param(
            {"FillFactor": "70"},
            "storageParameters: invalid parameter name 'FillFactor'",
            id="uppercase-name",
        ),
        pytest.param(
            {"1x": "70"}, "storageParameters: invalid parameter name '1x'", id="leading-digit"
        ),
        pytest.param(
            {"fill-factor": "70"},
            "storageParameters: invalid parameter name 'fill-factor'",
            id="dash",
        ),
        pytest.param(
            {"fillfactor = 10) WITH (x": "1"},
            "storageParameters: invalid parameter name 'fillfactor = 10) WITH (x'",
            id="injection-in-name",
        ),
        pytest.param(
            {"a" * 64: "1"},
            f"storageParameters: invalid parameter name {'a' * 64!r}",
            id="long-name",
        ),
        pytest.param({"": "1"}, "storageParameters: invalid parameter name ''", id="empty-name"),
        pytest.param(
            {"fillfactor\n": "70"},
            "storageParameters: invalid parameter name 'fillfactor\\n'",
            id="trailing-newline-in-name",
        ),
        pytest.param(
            {"_x1": "v"},
            "storageParameters: '_x1' is not a storage parameter of btree indexes "
            "(valid: deduplicate_items, fillfactor, vacuum_cleanup_index_scale_factor)",
            id="unknown-name",
        ),
        pytest.param(
            {"fillfactor": "it's"},
            "storageParameters.fillfactor must be an integer from 10 to 100 for btree indexes, "
            'got "it\'s"',
            id="quote-in-value",
        ),
        pytest.param(
            {"fillfactor": ""},
            "storageParameters.fillfactor must be a non-empty string",
            id="empty-value",
        ),
        pytest.param(
            {"fillfactor": 70},
            "storageParameters.fillfactor must be a non-empty string",
            id="number-value",
        ),
        pytest.param(
            {"fillfactor": "7\x000"},
            "storageParameters.fillfactor must be a non-empty string",
            id="nul-in-value",
        ),
    ],
)
def test_storage_parameters_rejected(params: dict[str, Any], message: str) -> None:
    with pytest.raises(errors.SpecError) as info:
        index_spec(storageParameters=params)
    assert info.value.message == message


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        pytest.param({}, specs.BuildOptions("1min", "0", None, None), id="defaults"),
        pytest.param({"lockTimeout": "0"}, specs.BuildOptions("0", "0"), id="lock-zero"),
        pytest.param({"lockTimeout": "100ms"}, specs.BuildOptions("100ms", "0"), id="ms"),
        pytest.param({"lockTimeout": "250us"}, specs.BuildOptions("250us", "0"), id="us"),
        pytest.param({"lockTimeout": "30s"}, specs.BuildOptions("30s", "0"), id="s"),
        pytest.param({"statementTimeout": "5min"}, specs.BuildOptions("1min", "5min"), id="min"),
        pytest.param({"statementTimeout": "12h"}, specs.BuildOptions("1min", "12h"), id="h"),
        pytest.param({"statementTimeout": "2d"}, specs.BuildOptions("1min", "2d"), id="d"),
        pytest.param({"statementTimeout": "1500"}, specs.BuildOptions("1min", "1500"), id="bare"),
        pytest.param(
            {"maintenanceWorkMem": "64kB"},
            specs.BuildOptions("1min", "0", "64kB"),
            id="kB",
        ),
        pytest.param(
            {"maintenanceWorkMem": "256MB"},
            specs.BuildOptions("1min", "0", "256MB"),
            id="MB",
        ),
        pytest.param(
            {"maintenanceWorkMem": "2GB"}, specs.BuildOptions("1min", "0", "2GB"), id="GB"
        ),
        pytest.param(
            {"maintenanceWorkMem": "1TB"}, specs.BuildOptions("1min", "0", "1TB"), id="TB"
        ),
        pytest.param(
            {"maintenanceWorkMem": "65536"},
            specs.BuildOptions("1min", "0", "65536"),
            id="bare-memory",
        ),
        pytest.param(
            {"parallelWorkers": 0}, specs.BuildOptions("1min", "0", None, 0), id="workers-0"
        ),
        pytest.param(
            {"parallelWorkers": 64}, specs.BuildOptions("1min", "0", None, 64), id="workers-64"
        ),
    ],
)
def test_build_options_accepted(build: dict[str, Any], expected: specs.BuildOptions) -> None:
    assert index_spec(build=build).build == expected


_DURATION_MESSAGE = "build.{} must be a duration like 30s or 5min"
_MEMORY_MESSAGE = "build.maintenanceWorkMem must be a size like 256MB"
_WORKERS_MESSAGE = "build.parallelWorkers must be an integer from 0 to 64"


@pytest.mark.parametrize(
    ("build", "message"),
    [
        pytest.param({"lockTimeout": "1m"}, _DURATION_MESSAGE.format("lockTimeout"), id="m"),
        pytest.param({"lockTimeout": "-1"}, _DURATION_MESSAGE.format("lockTimeout"), id="neg"),
        pytest.param({"lockTimeout": "1.5s"}, _DURATION_MESSAGE.format("lockTimeout"), id="frac"),
        pytest.param({"lockTimeout": "30 s"}, _DURATION_MESSAGE.format("lockTimeout"), id="space"),
        pytest.param({"lockTimeout": "S"}, _DURATION_MESSAGE.format("lockTimeout"), id="unit"),
        pytest.param({"lockTimeout": ""}, _DURATION_MESSAGE.format("lockTimeout"), id="empty"),
        pytest.param({"lockTimeout": 30}, _DURATION_MESSAGE.format("lockTimeout"), id="int"),
        pytest.param(
            {"lockTimeout": "1min\n"},
            _DURATION_MESSAGE.format("lockTimeout"),
            id="trailing-newline",
        ),
        pytest.param(
            {"statementTimeout": "1s; reset all"},
            _DURATION_MESSAGE.format("statementTimeout"),
            id="statement-injection",
        ),
        pytest.param(
            {"statementTimeout": "1 hour"},
            _DURATION_MESSAGE.format("statementTimeout"),
            id="statement-words",
        ),
        pytest.param({"maintenanceWorkMem": "256mb"}, _MEMORY_MESSAGE, id="lowercase-unit"),
        pytest.param({"maintenanceWorkMem": "1.5GB"}, _MEMORY_MESSAGE, id="fraction"),
        pytest.param({"maintenanceWorkMem": "256B"}, _MEMORY_MESSAGE, id="bytes-unit"),
        pytest.param({"maintenanceWorkMem": 256}, _MEMORY_MESSAGE, id="int-memory"),
        pytest.param({"maintenanceWorkMem": "256MB\n"}, _MEMORY_MESSAGE, id="memory-newline"),
        pytest.param({"parallelWorkers": -1}, _WORKERS_MESSAGE, id="workers-negative"),
        pytest.param({"parallelWorkers": 65}, _WORKERS_MESSAGE, id="workers-65"),
        pytest.param({"parallelWorkers": "2"}, _WORKERS_MESSAGE, id="workers-string"),
        pytest.param({"parallelWorkers": 2.0}, _WORKERS_MESSAGE, id="workers-float"),
        pytest.param({"parallelWorkers": True}, _WORKERS_MESSAGE, id="workers-bool"),
    ],
)
def test_build_options_rejected(build: dict[str, Any], message: str) -> None:
    with pytest.raises(errors.SpecError) as info:
        index_spec(build=build)
    assert info.value.message == message


@pytest.mark.parametrize(
    ("retry", "expected"),
    [
        pytest.param({}, specs.RetryPolicy(5, 10.0, 600.0), id="defaults"),
        pytest.param({"maxAttempts": 1}, specs.RetryPolicy(1, 10.0, 600.0), id="one-attempt"),
        pytest.param(
            {"initialBackoffSeconds": 0.5, "maxBackoffSeconds": 0.5},
            specs.RetryPolicy(5, 0.5, 0.5),
            id="equal-backoffs",
        ),
    ],
)
def test_retry_accepted(retry: dict[str, Any], expected: specs.RetryPolicy) -> None:
    assert index_spec(retry=retry).retry == expected


@pytest.mark.parametrize(
    ("retry", "message"),
    [
        pytest.param({"maxAttempts": 0}, "retry values must be positive", id="zero-attempts"),
        pytest.param(
            {"initialBackoffSeconds": 0}, "retry values must be positive", id="zero-initial"
        ),
        pytest.param({"maxBackoffSeconds": -1}, "retry values must be positive", id="neg-max"),
        pytest.param(
            {"initialBackoffSeconds": 60, "maxBackoffSeconds": 30},
            "retry.maxBackoffSeconds must be >= initialBackoffSeconds",
            id="max-below-initial",
        ),
        pytest.param(
            {"maxAttempts": "many"},
            "malformed spec: invalid literal for int() with base 10: 'many'",
            id="not-a-number",
        ),
    ],
)
def test_retry_rejected(retry: dict[str, Any], message: str) -> None:
    with pytest.raises(errors.SpecError) as info:
        index_spec(retry=retry)
    assert info.value.message == message


@pytest.mark.parametrize(
    ("policy", "attempts", "expected"),
    [
        pytest.param(specs.RetryPolicy(), 0, 10.0, id="no-failure-yet"),
        pytest.param(specs.RetryPolicy(), 1, 10.0, id="first-failure"),
        pytest.param(specs.RetryPolicy(), 2, 20.0, id="second"),
        pytest.param(specs.RetryPolicy(), 3, 40.0, id="third"),
        pytest.param(specs.RetryPolicy(), 6, 320.0, id="sixth"),
        pytest.param(specs.RetryPolicy(), 7, 600.0, id="capped"),
        pytest.param(specs.RetryPolicy(), 1000, 600.0, id="huge-attempts-capped"),
        pytest.param(specs.RetryPolicy(3, 1.5, 5.0), 3, 5.0, id="custom-cap"),
        pytest.param(specs.RetryPolicy(3, 1.5, 5.0), 2, 3.0, id="custom"),
    ],
)
def test_retry_delay(policy: specs.RetryPolicy, attempts: int, expected: float) -> None:
    assert policy.delay(attempts) == expected
