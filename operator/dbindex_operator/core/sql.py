"""All DDL the operator runs, rendered from an IndexSpec. The one place identifiers are quoted.

The CREATE statement follows PostgreSQL's grammar order:
CREATE [UNIQUE] INDEX CONCURRENTLY name ON schema.table USING method (keys) [INCLUDE (...)]
[NULLS NOT DISTINCT] [WITH (...)] [TABLESPACE ts] [WHERE pred]
We render it ourselves rather than through a deparser: the text is asserted exactly in tests.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pglast import keywords

from dbindex_operator.core import catalog, names
from dbindex_operator.core import spec as specs

_PLAIN_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_$]*\Z")
_KEYWORDS_NEEDING_QUOTES = (
    keywords.RESERVED_KEYWORDS | keywords.COL_NAME_KEYWORDS | keywords.TYPE_FUNC_NAME_KEYWORDS
)


# Access methods whose indexes CLUSTER can use (pg_am's amclusterable; never a partial index).
CLUSTERABLE_METHODS = ("btree", "gist")


def ident(name: str) -> str:
    """Quote like PostgreSQL's quote_ident (%I): only when needed, doubling embedded quotes."""
    if _PLAIN_IDENTIFIER.match(name) and name not in _KEYWORDS_NEEDING_QUOTES:
        return name
    return '"' + name.replace('"', '""') + '"'


def literal(value: str) -> str:
    """A standard-conforming string literal (%L without the E'' form: we reject backslashes
    nowhere, and standard_conforming_strings is on in every supported PostgreSQL)."""
    return "'" + value.replace("'", "''") + "'"


def qualified(schema: str, name: str) -> str:
    return f"{ident(schema)}.{ident(name)}"


def create_index(
    spec: specs.IndexSpec,
    *,
    concurrently: bool = True,
    table: str | None = None,
    name: str | None = None,
    only: bool = False,
    if_not_exists: bool = False,
) -> str:
    """Render CREATE INDEX for spec. `table` overrides the target (a pre-quoted relation name),
    used to build the same definition on a scratch copy of the table for comparison; `name`
    overrides the index name (a replacement is built under a temporary one). `only` and
    `if_not_exists` make the instant, INVALID index on a partitioned table (ON ONLY)."""
    parts = ["CREATE"]
    if spec.unique:
        parts.append("UNIQUE")
    parts.append("INDEX")
    if concurrently:
        parts.append("CONCURRENTLY")
    if if_not_exists:
        parts.append("IF NOT EXISTS")
    parts.append(ident(name or spec.name))
    parts.append("ON ONLY" if only else "ON")
    parts.append(table or qualified(spec.schema, spec.table))
    parts.append(f"USING {spec.method}")
    parts.append("(" + ", ".join(_key(key) for key in spec.keys) + ")")
    if spec.include:
        parts.append("INCLUDE (" + ", ".join(ident(c) for c in spec.include) + ")")
    if spec.nulls_not_distinct:
        parts.append("NULLS NOT DISTINCT")
    if spec.storage_parameters:
        params = ", ".join(f"{name} = {literal(value)}" for name, value in spec.storage_parameters)
        parts.append(f"WITH ({params})")
    if spec.tablespace:
        parts.append(f"TABLESPACE {ident(spec.tablespace)}")
    if spec.where:
        parts.append(f"WHERE ({spec.where})")
    return " ".join(parts)


def _key(key: specs.IndexKey) -> str:
    text = ident(key.column) if key.column is not None else f"({key.expression})"
    if key.collation:
        text += f" COLLATE {ident(key.collation)}"
    if key.opclass:
        # An operator class may be schema-qualified (`schema.opclass`); collations are not
        # split, since their own names often hold a dot (`en_US.utf8`).
        text += " " + ".".join(ident(part) for part in key.opclass.split(".", 1))
    if key.descending:
        text += " DESC"
    if key.nulls_first is not None:
        text += " NULLS FIRST" if key.nulls_first else " NULLS LAST"
    return text


def probe_statements(spec: specs.IndexSpec, probe_table: str) -> list[str]:
    """The statements of a definition check, run in one transaction that is always rolled back:
    spec's index built (instantly, not concurrently) on an empty temporary copy of its table, so
    PostgreSQL normalises expressions, predicates, opclasses and options the way it stores them.
    search_path is the index's schema, as for the build."""
    return [
        f"SET LOCAL search_path = {ident(spec.schema)}",
        f"CREATE TEMP TABLE {ident(probe_table)} "
        f"(LIKE {qualified(spec.schema, spec.table)}) ON COMMIT DROP",
        create_index(spec, concurrently=False, table=f"pg_temp.{ident(probe_table)}"),
    ]


def swap_statements(
    spec: specs.IndexSpec,
    state: catalog.IndexState,
    renames: Sequence[tuple[str, str, str]] = (),
) -> list[str]:
    """The body of the swap transaction (BEGIN/COMMIT around it; the session's lock_timeout
    bounds every lock it takes): the old index steps aside to its retired name, the replacement
    takes the declared name, and what the old one had that the spec does not say is carried
    over: CLUSTER ON, the comment, statistics targets of expression columns still there.
    `renames` (schema, from, to): the partition indexes of both trees, renamed alike."""
    table = qualified(spec.schema, spec.table)
    index = qualified(spec.schema, spec.name)
    result = [
        f"ALTER INDEX {index} RENAME TO {ident(names.retired(spec.name))}",
        f"ALTER INDEX {qualified(spec.schema, names.replacement(spec.name))} "
        f"RENAME TO {ident(spec.name)}",
    ]
    result += [f"ALTER INDEX {qualified(s, old)} RENAME TO {ident(new)}" for s, old, new in renames]
    partitioned = state.table_kind == "p"  # CLUSTER and per-index statistics: not there
    clusterable = spec.method in CLUSTERABLE_METHODS and spec.where is None and not partitioned
    if state.clustered and clusterable:
        result.append(f"ALTER TABLE {table} CLUSTER ON {ident(spec.name)}")
    if state.comment is not None:
        result.append(f"COMMENT ON INDEX {index} IS {literal(state.comment)}")
    for column, target in () if partitioned else state.stat_targets:
        if column <= len(spec.keys) and spec.keys[column - 1].expression is not None:
            result.append(f"ALTER INDEX {index} ALTER COLUMN {column} SET STATISTICS {target}")
    return result


def drop_index(schema: str, name: str, *, concurrently: bool = True) -> str:
    """CONCURRENTLY, except for an index on a partitioned table, which PostgreSQL cannot drop
    concurrently: then a plain DROP INDEX under the session's lock_timeout (a brief ACCESS
    EXCLUSIVE lock on the partitioned table)."""
    how = "CONCURRENTLY " if concurrently else ""
    return f"DROP INDEX {how}IF EXISTS {qualified(schema, name)}"


def reindex(schema: str, name: str) -> str:
    """Rebuilds the index beside itself and swaps it in (PG 12+): writes go on throughout."""
    return f"REINDEX INDEX CONCURRENTLY {qualified(schema, name)}"


def verify(schema: str, name: str) -> str:
    """amcheck's btree check with heapallindexed: the structure of the index and that every heap
    tuple has its entry. ACCESS SHARE locks only; reads the whole index and table. It runs with
    search_path set to the schema amcheck is installed in (and nothing else)."""
    return f"SELECT bt_index_check({literal(qualified(schema, name))}::regclass, true)"


def attach_partition(parent_schema: str, parent: str, child_schema: str, child: str) -> str:
    return (
        f"ALTER INDEX {qualified(parent_schema, parent)} "
        f"ATTACH PARTITION {qualified(child_schema, child)}"
    )


def session_settings(
    build: specs.BuildOptions, *, schema: str, check_interval: str, application_name: str
) -> dict[str, str]:
    """Settings for a build session, sent in the startup packet (never in the CIC's string).

    search_path is the index's schema only, so unqualified names in expressions resolve the
    same way for the build and for the definition check.
    """
    settings = {
        "application_name": application_name,
        "lock_timeout": build.lock_timeout,
        "statement_timeout": build.statement_timeout,
        "search_path": ident(schema),
        # PG 14+: abort the build when the operator's connection is gone (no orphans).
        "client_connection_check_interval": check_interval,
    }
    if build.maintenance_work_mem is not None:
        settings["maintenance_work_mem"] = build.maintenance_work_mem
    if build.parallel_workers is not None:
        settings["max_parallel_maintenance_workers"] = str(build.parallel_workers)
    return settings
