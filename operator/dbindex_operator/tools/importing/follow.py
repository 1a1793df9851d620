"""The statements besides CREATE INDEX that decide what the manifests must say, followed in order:

    SET [LOCAL] search_path, RESET, set_config(..),  which schema an unqualified table name
        BEGIN / COMMIT / ROLLBACK                    resolves to (``search_path``)
    CREATE TABLE [TEMP] [PARTITION BY], CREATE       the relations there are: where they live,
        TABLE AS, SELECT INTO, views, sequences      temporary or partitioned (``relations``)
    DROP INDEX / TABLE / SCHEMA (views, ...)         an index dropped later (also with its
                                                     table) gets no manifest
    ALTER INDEX / TABLE ... RENAME TO, ALTER SCHEMA  the manifest names the index, table and
        ... RENAME TO, ALTER TABLE ... SET SCHEMA    schema of the end state
    ALTER TABLE ... DROP COLUMN / RENAME COLUMN      an index using the column is dropped with
                                                     it / names the new column (``columns``)

``follow`` returns the notes for the statement; none means it changed nothing a manifest says
(the caller notes it as skipped).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Final

from pglast import ast, enums

from dbindex_operator.tools.importing import columns, relations, search_path
from dbindex_operator.tools.importing.relations import (
    INDEX,
    OTHER,
    TABLE,
    Catalog,
    Relation,
)
from dbindex_operator.tools.importing.search_path import TEMP_SCHEMA, SearchPath

_O = enums.ObjectType
_RELATION_KINDS: Final = {
    _O.OBJECT_TABLE: (TABLE,),
    _O.OBJECT_MATVIEW: (TABLE,),
    _O.OBJECT_INDEX: (INDEX,),
    _O.OBJECT_VIEW: (OTHER,),
    _O.OBJECT_SEQUENCE: (OTHER,),
    _O.OBJECT_FOREIGN_TABLE: (OTHER,),
}
_ANY_RELATION: Final = (TABLE, INDEX, OTHER)


@dataclasses.dataclass
class Session:
    """One migration file's session over the catalog all files share; ``where`` is the
    ``FILE:LINE`` of the statement being followed."""

    catalog: Catalog
    path: SearchPath
    where: str = ""


def follow(node: ast.Node, session: Session) -> list[str]:
    """Apply ``node`` to the session; the notes it deserves (empty: it changed nothing)."""
    if isinstance(node, ast.VariableSetStmt):
        return search_path.set_statement(node, session.path, session.where)
    if isinstance(node, ast.TransactionStmt):
        search_path.transaction(node, session.path)
    elif isinstance(node, ast.SelectStmt):
        if node.intoClause is not None and node.intoClause.rel is not None:
            _create(session, node.intoClause.rel, TABLE)
        return search_path.set_config(node, session.path, session.where)
    elif isinstance(node, ast.CreateStmt):
        _create(session, node.relation, TABLE, node.if_not_exists, node.partspec is not None)
        if node.partbound is not None and node.inhRelations:
            _partition(session, node.inhRelations[0], node.relation, attach=True)
    elif isinstance(node, ast.CreateTableAsStmt) and node.into is not None:
        _create(session, node.into.rel, TABLE, node.if_not_exists)
    elif isinstance(node, ast.CreateForeignTableStmt) and node.base is not None:
        _create(session, node.base.relation, OTHER)
    elif isinstance(node, ast.ViewStmt | ast.CreateSeqStmt | ast.CompositeTypeStmt):
        created = getattr(node, "view", None) or getattr(node, "sequence", None)
        _create(session, created or getattr(node, "typevar", None), OTHER)
    elif isinstance(node, ast.CreateSchemaStmt) and node.schemaname:
        inside = dataclasses.replace(session, path=SearchPath(session=(node.schemaname,)))
        for element in node.schemaElts or ():
            follow(element, inside)
    elif isinstance(node, ast.DropStmt):
        return _drop(node, session)
    elif isinstance(node, ast.RenameStmt):
        return _rename(node, session)
    elif isinstance(node, ast.AlterObjectSchemaStmt) and node.objectType in _RELATION_KINDS:
        return _set_schema(node, session)
    elif isinstance(node, ast.AlterTableStmt) and node.relation is not None:
        for cmd in node.cmds or ():
            if isinstance(cmd, ast.AlterTableCmd) and isinstance(cmd.def_, ast.PartitionCmd):
                attach = cmd.subtype == enums.AlterTableType.AT_AttachPartition
                if node.objtype == _O.OBJECT_TABLE:
                    _partition(session, node.relation, cmd.def_.name, attach=attach)
        return _drop_columns(node, node.relation, session)
    return []


def end_of_session(catalog: Catalog) -> None:
    """Temporary tables (and their indexes) end with the migration's session."""
    for relation in [r for r in catalog.temporary() if r.kind != INDEX]:
        catalog.drop(relation)


def with_schema(spec: dict[str, Any], schema: str) -> dict[str, Any]:
    """``spec`` with ``schema`` set, in the CRD's field order (just before ``table``)."""
    fields = {k: v for k, v in spec.items() if k != "schema"}
    ordered: dict[str, Any] = {}
    for key, value in fields.items():
        if key == "table":
            ordered["schema"] = schema
        ordered[key] = value
    return ordered


# --- relations -----------------------------------------------------------------------------------


def _create(
    session: Session,
    rangevar: ast.RangeVar | None,
    kind: str,
    if_not_exists: bool | None = False,
    partitioned: bool = False,
) -> None:
    if rangevar is None or not rangevar.relname:
        return
    temporary = rangevar.relpersistence == "t" or rangevar.schemaname == TEMP_SCHEMA
    schema = TEMP_SCHEMA if temporary else rangevar.schemaname
    schema = schema or search_path.creation_schema(session.path.current)
    if schema is None:
        return
    existing = session.catalog.get(schema, rangevar.relname)
    if if_not_exists and existing is not None and not existing.assumed:
        return  # PostgreSQL keeps the table there is
    session.catalog.add(
        Relation(kind, schema, rangevar.relname, session.where, None, temporary, partitioned)
    )


def _partition(session: Session, parent: Any, child: ast.RangeVar | None, *, attach: bool) -> None:
    """CREATE TABLE ... PARTITION OF, ALTER TABLE ... ATTACH / DETACH PARTITION."""
    if not isinstance(parent, ast.RangeVar) or child is None or not child.relname:
        return
    table = resolve(session, parent.schemaname, parent.relname or "", (TABLE,))
    partition = resolve(session, child.schemaname, child.relname, (TABLE,))
    if table is not None and partition is not None:
        partition.parent = table.key if attach else None


def resolve(
    session: Session, schema: str | None, name: str, kinds: tuple[str, ...]
) -> Relation | None:
    """The relation a possibly qualified name refers to, if the migrations created it."""
    if schema:
        relation = session.catalog.get(schema, name)
        return relation if relation is not None and relation.kind in kinds else None
    return relations.find(session.catalog, session.path.current, name, kinds)


def _drop(node: ast.DropStmt, session: Session) -> list[str]:
    if node.removeType == _O.OBJECT_SCHEMA:
        gone = [
            r
            for name in node.objects or ()
            if isinstance(name, ast.String)
            for r in session.catalog.in_schema(name.sval or "")
        ]
    elif node.removeType in _RELATION_KINDS:
        gone = []
        for names in node.objects or ():
            parts = [n.sval or "" for n in names if isinstance(n, ast.String)]
            schema = parts[-2] if len(parts) > 1 else None
            relation = resolve(session, schema, parts[-1], _RELATION_KINDS[node.removeType])
            gone.extend([relation] if relation is not None else [])
    else:
        return []
    notes = []
    for relation in gone:
        for removed in session.catalog.drop(relation):
            if removed.entry is not None and not removed.entry.dropped:
                removed.entry.dropped = True
                table = "" if removed is relation else f" with {relation.kind} {relation.name}"
                notes.append(
                    f"index {removed.name} (created at {removed.entry.where}) is dropped here"
                    f"{table}: no manifest for it"
                )
    return notes


def _drop_columns(node: ast.AlterTableStmt, rangevar: ast.RangeVar, session: Session) -> list[str]:
    table = resolve(session, rangevar.schemaname, rangevar.relname or "", (TABLE,))
    dropped = [
        cmd.name
        for cmd in node.cmds or ()
        if isinstance(cmd, ast.AlterTableCmd) and cmd.subtype == enums.AlterTableType.AT_DropColumn
    ]
    if table is None:
        return []
    return [
        n
        for column in dropped
        if column
        for n in columns.drop_column(session.catalog, table, column)
    ]


def _rename(node: ast.RenameStmt, session: Session) -> list[str]:
    new = node.newname or ""
    if node.renameType == _O.OBJECT_COLUMN and node.relation is not None:
        on = node.relation
        table = resolve(session, on.schemaname, on.relname or "", (TABLE,))
        if table is None:
            return []
        return columns.rename_column(session.catalog, table, node.subname or "", new)
    if node.renameType == _O.OBJECT_SCHEMA:
        moved = session.catalog.in_schema(node.subname or "")
        return [n for r in moved if r.kind == TABLE for n in _move(session, r, new, r.name)]
    rangevar = node.relation
    if node.renameType not in _RELATION_KINDS or rangevar is None or not rangevar.relname:
        return []
    relation = resolve(session, rangevar.schemaname, rangevar.relname, _ANY_RELATION)
    if relation is None:
        return []
    if relation.kind != INDEX:
        return _move(session, relation, relation.schema, new)
    old = relation.name
    session.catalog.rename(relation, new)
    if relation.entry is None:
        return []
    relation.entry.spec["name"] = new
    return [
        f"index {old} (created at {relation.entry.where}) is renamed to {new} here:"
        f" the manifest names {new}"
    ]


def _set_schema(node: ast.AlterObjectSchemaStmt, session: Session) -> list[str]:
    rangevar = node.relation
    if rangevar is None or not rangevar.relname or not node.newschema:
        return []
    relation = resolve(session, rangevar.schemaname, rangevar.relname, (TABLE,))
    return [] if relation is None else _move(session, relation, node.newschema, relation.name)


def _move(session: Session, table: Relation, schema: str, name: str) -> list[str]:
    """Rename and/or move a table; its indexes' manifests follow."""
    old = f"{table.schema}.{table.name}"
    indexes = session.catalog.set_schema(table, schema) if schema != table.schema else []
    if name != table.name:
        session.catalog.rename(table, name)
        indexes = session.catalog.indexes_of(table.key)
    notes = []
    for index in indexes:
        if index.entry is None or index.entry.dropped:
            continue
        entry = index.entry
        entry.spec["table"] = table.name
        if schema != entry.spec.get("schema", "public"):
            entry.spec = with_schema(entry.spec, schema)
        notes.append(
            f"table {old} of index {index.name} (created at {entry.where}) becomes"
            f" {table.schema}.{table.name} here: the manifest follows"
        )
    return notes
