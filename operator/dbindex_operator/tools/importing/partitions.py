"""``CREATE INDEX ... ON ONLY parent`` followed by the per-partition indexes and ``ALTER INDEX
parent_idx ATTACH PARTITION child_idx`` (what pg_dump writes, and what careful migrations do to
build a partitioned index without locking the whole tree): one manifest for the partitioned index.

The operator builds an index on a partitioned table itself, the same way (``ON ONLY`` the
table, each leaf concurrently, then attached). So an ON ONLY index becomes the manifest of the
partitioned index when, by the end of its file, an index of *every* partition the migrations
created (``PARTITION OF``, ``ATTACH PARTITION``) is attached to it, each with the same definition
(a partitioned sub-table's own ON ONLY index counts when it is complete in turn); the attached
indexes get no manifest of their own. Otherwise the ON ONLY index is an error: alone it is an
INVALID index on the partitioned table only, which no DatabaseIndex can express.
"""

from __future__ import annotations

import dataclasses
from typing import Final

from pglast import ast, enums

from dbindex_operator.tools.importing import follow
from dbindex_operator.tools.importing.model import Diagnostic
from dbindex_operator.tools.importing.relations import INDEX, Catalog, Key, Relation

ON_ONLY: Final = "cannot express ON ONLY: a DatabaseIndex builds the index on the whole table"
# Fields that must agree for PostgreSQL to attach an index (the rest name or place it).
_DEFINITION: Final = ("method", "unique", "columns", "include", "where", "nullsNotDistinct")


@dataclasses.dataclass
class _Attach:
    child: Relation
    line: int


@dataclasses.dataclass
class Tracker:
    """One file's ON ONLY indexes and ATTACH PARTITION statements."""

    filename: str
    pending: list[tuple[Relation, int]] = dataclasses.field(default_factory=list)
    attached: dict[Key, list[_Attach]] = dataclasses.field(default_factory=dict)

    def on_only(self, index: Relation, line: int) -> None:
        self.pending.append((index, line))

    def attach(
        self, node: ast.AlterTableStmt, session: follow.Session, line: int
    ) -> list[str] | None:
        """Follow ``ALTER INDEX parent ATTACH PARTITION child``: its notes (None: not one; the
        attachments to this file's ON ONLY indexes are noted at the end of the file)."""
        if node.objtype != enums.ObjectType.OBJECT_INDEX or node.relation is None:
            return None
        notes: list[str] | None = None
        for cmd in node.cmds or ():
            if not isinstance(cmd, ast.AlterTableCmd) or not isinstance(cmd.def_, ast.PartitionCmd):
                continue
            if cmd.subtype != enums.AlterTableType.AT_AttachPartition or cmd.def_.name is None:
                continue
            on, of = node.relation, cmd.def_.name
            notes = notes or []
            parent = follow.resolve(session, on.schemaname, on.relname or "", (INDEX,))
            child = follow.resolve(session, of.schemaname, of.relname or "", (INDEX,))
            if parent is None or child is None:
                notes.append(f"skipped ALTER INDEX {on.relname} ATTACH PARTITION {of.relname}")
                continue
            self.attached.setdefault(parent.key, []).append(_Attach(child, line))
            if not any(index is parent for index, _ in self.pending):
                notes.append(f"index {child.name} is attached to index {parent.name}")
        return notes

    def resolve(self, catalog: Catalog) -> list[Diagnostic]:
        """At the end of the file: keep every complete ON ONLY index, refuse the others."""
        diagnostics: list[Diagnostic] = []
        for index, line in self.pending:
            why = self._incomplete(index, catalog, set())
            entry = index.entry
            assert entry is not None
            if why is not None:
                entry.pending, entry.dropped = False, True
                diagnostics.append(Diagnostic(self.filename, line, why, error=True))
                continue
            entry.pending = False
            children = self.attached.get(index.key, [])
            for attach in children:
                if attach.child.entry is not None and not attach.child.entry.dropped:
                    attach.child.entry.dropped = True
                    diagnostics.append(
                        Diagnostic(
                            self.filename,
                            attach.line,
                            f"index {attach.child.name} (created at {attach.child.entry.where})"
                            f" is attached to {index.name}: no manifest of its own, the"
                            f" manifest of {index.name} covers it",
                        )
                    )
            names = ", ".join(a.child.name for a in children) or "none: no partitions"
            diagnostics.append(
                Diagnostic(
                    self.filename,
                    line,
                    f"ON ONLY with the index of every partition attached in this file ({names}):"
                    f" one manifest for the partitioned index {index.name}; the operator builds"
                    " it partition by partition",
                )
            )
        return diagnostics

    def _incomplete(self, index: Relation, catalog: Catalog, seen: set[Key]) -> str | None:
        """Why ``index`` (ON ONLY) is not a whole partitioned index by now (None: it is)."""
        seen.add(index.key)
        assert index.table is not None and index.entry is not None
        table = catalog.get(*index.table)
        partitions = catalog.partitions_of(index.table)
        children = self.attached.get(index.key, [])
        if not children and (table is None or table.assumed or not table.partitioned):
            return ON_ONLY
        covered: dict[Key, Relation] = {}
        for attach in children:
            child = attach.child
            if child.table is not None:
                covered[child.table] = child
            problem = _mismatch(index, child) or self._child(child, catalog, seen)
            if problem is not None:
                return f"{ON_ONLY}; {problem}"
        missing = [p for p in partitions if p.key not in covered]
        if missing:
            names = ", ".join(f"{p.schema}.{p.name}" for p in missing)
            return (
                f"{ON_ONLY}; ON ONLY is accepted when this file attaches an index of every"
                f" partition (ALTER INDEX {index.name} ATTACH PARTITION ...), and none is"
                f" attached for {names}"
            )
        return None

    def _child(self, child: Relation, catalog: Catalog, seen: set[Key]) -> str | None:
        if child.entry is None or not child.entry.pending or child.key in seen:
            return None
        why = self._incomplete(child, catalog, seen)
        return None if why is None else f"the attached ON ONLY index {child.name} is incomplete"


def _mismatch(parent: Relation, child: Relation) -> str | None:
    if parent.entry is None or child.entry is None:
        return None  # an index made before these migrations: PostgreSQL checks it
    ours, theirs = parent.entry.spec, child.entry.spec
    differ = [f for f in _DEFINITION if ours.get(f) != theirs.get(f)]
    if not differ:
        return None
    return (
        f"the attached index {child.name} (created at {child.entry.where}) differs in"
        f" {', '.join(differ)}"
    )
