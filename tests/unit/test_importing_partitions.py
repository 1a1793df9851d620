"""Issue #13: ``CREATE INDEX ... ON ONLY parent`` followed in the same file by an index of every
partition and ``ALTER INDEX ... ATTACH PARTITION`` becomes one manifest for the partitioned index;
alone (or with a partition left out, or a different definition) it stays an error. A plain
CREATE INDEX on a partitioned table is converted with a note. Pure: no server."""

from __future__ import annotations

from typing import Any

from dbindex_operator.tools import importing

TABLES = (
    "CREATE TABLE events (at date, kind int) PARTITION BY RANGE (at);\n"
    "CREATE TABLE events_2024 PARTITION OF events\n"
    "    FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');\n"
    "CREATE TABLE events_2025 (at date, kind int);\n"
    "ALTER TABLE events ATTACH PARTITION events_2025\n"
    "    FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');\n"
)
PARENT = "CREATE INDEX events_at ON ONLY events (at);\n"
CHILDREN = (
    "CREATE INDEX CONCURRENTLY events_2024_at ON events_2024 (at);\n"
    "CREATE INDEX CONCURRENTLY events_2025_at ON events_2025 (at);\n"
)
ATTACH_2024 = "ALTER INDEX events_at ATTACH PARTITION events_2024_at;\n"
ATTACH_2025 = "ALTER INDEX events_at ATTACH PARTITION events_2025_at;\n"


def convert(sql: str) -> importing.ImportResult:
    options: dict[str, Any] = {
        "namespace": None,
        "secret": "db",
        "key": None,
        "deletion_policy": "Retain",
    }
    return importing.convert(sql, "m.sql", **options)


def test_on_only_with_every_partition_attached_is_one_manifest() -> None:
    result = convert(TABLES + PARENT + CHILDREN + ATTACH_2024 + ATTACH_2025)
    assert result.errors == []
    assert [m["spec"] for m in result.manifests] == [
        {
            "connection": {"secretRef": {"name": "db"}},
            "table": "events",
            "name": "events_at",
            "columns": [{"column": "at"}],
        }
    ]
    assert (
        "m.sql:7: ON ONLY with the index of every partition attached in this file"
        " (events_2024_at, events_2025_at): one manifest for the partitioned index events_at;"
        " the operator builds it partition by partition"
    ) in result.notes
    assert (
        "m.sql:10: index events_2024_at (created at m.sql:8) is attached to events_at: no manifest"
        " of its own, the manifest of events_at covers it"
    ) in result.notes


def test_children_built_before_the_on_only_index_also_count() -> None:
    result = convert(TABLES + CHILDREN + PARENT + ATTACH_2025 + ATTACH_2024)
    assert result.errors == []
    assert [m["spec"]["name"] for m in result.manifests] == ["events_at"]


def test_on_only_alone_is_an_error() -> None:
    result = convert(TABLES + PARENT)
    assert [m["spec"]["name"] for m in result.manifests] == []
    assert len(result.errors) == 1
    assert result.errors[0].startswith("m.sql:7: error: cannot express ON ONLY")
    assert "none is attached for public.events_2024, public.events_2025" in result.errors[0]


def test_on_only_on_a_table_the_tree_did_not_create_needs_attach_statements() -> None:
    result = convert("CREATE INDEX i ON ONLY t (a);\n")
    assert result.errors == [
        "m.sql:1: error: cannot express ON ONLY: a DatabaseIndex builds the index on the whole"
        " table"
    ]


def test_a_partition_left_out_is_an_error_and_the_children_keep_their_manifests() -> None:
    result = convert(TABLES + PARENT + CHILDREN + ATTACH_2024)
    assert len(result.errors) == 1
    assert "none is attached for public.events_2025" in result.errors[0]
    names = [m["spec"]["name"] for m in result.manifests]
    assert names == ["events_2024_at", "events_2025_at"]


def test_attach_statements_in_a_later_file_do_not_count() -> None:
    taken: set[str] = set()
    options: dict[str, Any] = {"namespace": None, "secret": "db", "key": None}
    first = importing.convert(
        TABLES + PARENT + CHILDREN, "1.sql", deletion_policy="Retain", taken=taken, **options
    )
    assert any("cannot express ON ONLY" in e for e in first.errors)


def test_a_different_definition_is_an_error() -> None:
    children = CHILDREN.replace("events_2025 (at)", "events_2025 (kind)")
    result = convert(TABLES + PARENT + children + ATTACH_2024 + ATTACH_2025)
    assert len(result.errors) == 1
    assert (
        "the attached index events_2025_at (created at m.sql:9) differs in columns"
        in (result.errors[0])
    )


def test_sub_partitions_attach_their_own_on_only_index() -> None:
    sql = (
        "CREATE TABLE m (a int, b int) PARTITION BY LIST (a);\n"
        "CREATE TABLE m1 PARTITION OF m FOR VALUES IN (1) PARTITION BY LIST (b);\n"
        "CREATE TABLE m1x PARTITION OF m1 FOR VALUES IN (1);\n"
        "CREATE INDEX m_b ON ONLY m (b);\n"
        "CREATE INDEX m1_b ON ONLY m1 (b);\n"
        "CREATE INDEX CONCURRENTLY m1x_b ON m1x (b);\n"
        "ALTER INDEX m1_b ATTACH PARTITION m1x_b;\n"
        "ALTER INDEX m_b ATTACH PARTITION m1_b;\n"
    )
    result = convert(sql)
    assert result.errors == []
    assert [m["spec"]["table"] for m in result.manifests] == ["m"]


def test_a_plain_index_on_a_partitioned_table_is_converted_with_a_note() -> None:
    result = convert(TABLES + "CREATE INDEX events_kind ON events (kind);\n")
    assert result.errors == []
    assert [m["spec"]["table"] for m in result.manifests] == ["events"]
    assert (
        "m.sql:7: table public.events is partitioned (PARTITION BY at m.sql:1): the operator"
        " builds the index ON ONLY the table and then on every partition"
    ) in result.notes
