"""What the migrations have done so far, as far as the manifests care: the relations they created
(tables, with whether they are temporary or partitioned, and indexes, with the manifest each one
became), and PostgreSQL's rule for finding an unqualified name along the search path.

Temporary tables live in ``pg_temp`` and end with their migration's session (its file).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from dbindex_operator.tools.importing.search_path import TEMP_SCHEMA, searched

TABLE, INDEX, OTHER = "table", "index", "other"

Key = tuple[str, str]
"""(schema, name) of a relation."""


@dataclasses.dataclass
class Entry:
    """A CREATE INDEX that became a manifest; ``spec`` follows later renames and moves."""

    spec: dict[str, Any]
    filename: str
    line: int
    version: str | None
    description: str
    dropped: bool = False
    pending: bool = False  # an ON ONLY index until its file attached every partition's index

    @property
    def where(self) -> str:
        return f"{self.filename}:{self.line}"


@dataclasses.dataclass
class Relation:
    kind: str
    schema: str
    name: str
    where: str
    table: Key | None = None  # an index's table
    temporary: bool = False
    partitioned: bool = False
    entry: Entry | None = None
    assumed: bool = False  # a table these migrations use but did not create
    parent: Key | None = None  # a partition's partitioned table (PARTITION OF, ATTACH)

    @property
    def key(self) -> Key:
        return self.schema, self.name


class Catalog:
    """The relations the migrations created, by (schema, name)."""

    def __init__(self) -> None:
        self._relations: dict[Key, Relation] = {}

    def get(self, schema: str, name: str) -> Relation | None:
        return self._relations.get((schema, name))

    def taken(self, schema: str, name: str) -> bool:
        return (schema, name) in self._relations

    def add(self, relation: Relation) -> None:
        self._relations[relation.key] = relation

    def indexes_of(self, table: Key) -> list[Relation]:
        return [r for r in self._relations.values() if r.kind == INDEX and r.table == table]

    def partitions_of(self, table: Key) -> list[Relation]:
        return [r for r in self._relations.values() if r.kind == TABLE and r.parent == table]

    def in_schema(self, schema: str) -> list[Relation]:
        return [r for r in self._relations.values() if r.schema == schema]

    def drop(self, relation: Relation) -> list[Relation]:
        """Remove a relation and, for a table, its indexes; return everything removed."""
        removed = [relation, *(self.indexes_of(relation.key) if relation.kind != INDEX else ())]
        for gone in removed:
            self._relations.pop(gone.key, None)
        return removed

    def rename(self, relation: Relation, name: str) -> None:
        self._move(relation, relation.schema, name)

    def set_schema(self, table: Relation, schema: str) -> list[Relation]:
        """Move a table and its indexes (indexes live in their table's schema); return the
        indexes."""
        indexes = self.indexes_of(table.key)
        self._move(table, schema, table.name)
        for index in indexes:
            self._move(index, schema, index.name)
        return indexes

    def temporary(self) -> Iterator[Relation]:
        return iter([r for r in self._relations.values() if r.schema == TEMP_SCHEMA])

    def _move(self, relation: Relation, schema: str, name: str) -> None:
        old = relation.key
        self._relations.pop(old, None)
        relation.schema, relation.name = schema, name
        self._relations[relation.key] = relation
        for other in self._relations.values():
            if other.table == old:
                other.table = relation.key
            if other.parent == old:
                other.parent = relation.key


def find(
    catalog: Catalog,
    path: tuple[str, ...],
    name: str,
    kinds: tuple[str, ...],
    *,
    assumed: bool = True,
) -> Relation | None:
    """The relation an unqualified ``name`` of one of ``kinds`` resolves to, if the migrations
    created one on the path (or, with ``assumed``, used one they did not create)."""
    for schema in searched(path):
        relation = catalog.get(schema, name)
        if relation is not None and relation.kind in kinds and (assumed or not relation.assumed):
            return relation
    return None
