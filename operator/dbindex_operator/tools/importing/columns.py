"""The columns a manifest's index uses, for a later ``ALTER TABLE ... DROP COLUMN`` (PostgreSQL
drops every index that uses the column: key, INCLUDE, expression or predicate) and ``ALTER TABLE
... RENAME COLUMN`` (the index follows the column: the manifest must name the new one).

Expressions and predicates are parsed as ``SELECT <text>``; a renamed column is rewritten in the
tree and the text written again by pglast's deparser, checked to parse back to that tree.
"""

from __future__ import annotations

import contextlib
from typing import Any

from pglast import ast, parser, visitors
from pglast.stream import RawStream

from dbindex_operator.tools.importing.relations import Catalog, Relation
from dbindex_operator.tools.importing.text import reparses_to


def drop_column(catalog: Catalog, table: Relation, column: str) -> list[str]:
    """``ALTER TABLE ... DROP COLUMN``: the indexes using the column go with it."""
    notes = []
    for index in catalog.indexes_of(table.key):
        entry = index.entry
        if entry is not None and not entry.dropped and uses(entry.spec, column):
            catalog.drop(index)
            entry.dropped = True
            notes.append(
                f"index {index.name} (created at {entry.where}) is dropped here with column"
                f" {column} of table {table.name}: no manifest for it"
            )
    return notes


def rename_column(catalog: Catalog, table: Relation, old: str, new: str) -> list[str]:
    """``ALTER TABLE ... RENAME COLUMN``: the manifests of the indexes using it follow."""
    notes = []
    for index in catalog.indexes_of(table.key):
        entry = index.entry
        if entry is None or entry.dropped or not uses(entry.spec, old):
            continue
        spec = renamed(entry.spec, old, new)
        what = f"column {old} of table {table.name}, used by index {index.name} (created at"
        if spec is None:
            notes.append(
                f"{what} {entry.where}), is renamed to {new} here: cannot write its expressions"
                " again, so the manifest still names the old column"
            )
            continue
        entry.spec = spec
        notes.append(f"{what} {entry.where}), is renamed to {new} here: the manifest follows")
    return notes


def uses(spec: dict[str, Any], column: str) -> bool:
    """Whether the index of ``spec`` uses ``column`` anywhere."""
    for key in spec["columns"]:
        if key.get("column") == column:
            return True
        if "expression" in key and _refers(key["expression"], column):
            return True
    if column in spec.get("include", ()):
        return True
    return "where" in spec and _refers(spec["where"], column)


def renamed(spec: dict[str, Any], old: str, new: str) -> dict[str, Any] | None:
    """``spec`` with column ``old`` called ``new``; None if an expression could not be written
    again."""
    result = dict(spec)
    columns = []
    for key in spec["columns"]:
        key = dict(key)
        if key.get("column") == old:
            key["column"] = new
        elif "expression" in key:
            key["expression"] = _rename(key["expression"], old, new)
        columns.append(key)
    result["columns"] = columns
    if "include" in spec:
        result["include"] = [new if c == old else c for c in spec["include"]]
    if "where" in spec:
        result["where"] = _rename(spec["where"], old, new)
    texts = [k.get("expression", "") for k in columns] + [result.get("where", "")]
    return None if None in texts else result


class _Columns(visitors.Visitor):
    """Finds (and with ``new`` renames) the column references to ``old``."""

    def __init__(self, old: str, new: str | None = None) -> None:
        self.old, self.new, self.found = old, new, False

    def visit_ColumnRef(self, ancestors: object, node: ast.ColumnRef) -> None:
        fields = list(node.fields or ())
        if fields and isinstance(fields[-1], ast.String) and fields[-1].sval == self.old:
            self.found = True
            if self.new is not None:
                fields[-1] = ast.String(sval=self.new)
                node.fields = tuple(fields)


def _expression(text: str) -> ast.Node | None:
    with contextlib.suppress(parser.ParseError):
        select = parser.parse_sql(f"SELECT {text}")[0].stmt
        if isinstance(select, ast.SelectStmt) and select.targetList:
            target = select.targetList[0]
            return target.val if isinstance(target, ast.ResTarget) else None
    return None


def _refers(text: str, column: str) -> bool:
    node = _expression(text)
    if node is None:
        return True  # cannot tell: assume it does
    finder = _Columns(column)
    finder(node)
    return finder.found


def _rename(text: str, old: str, new: str) -> str | None:
    node = _expression(text)
    if node is None:
        return None
    renamer = _Columns(old, new)
    renamer(node)
    if not renamer.found:
        return text
    written = RawStream()(node)
    return written if reparses_to(written, node) else None
