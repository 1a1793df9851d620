"""One import: the files of the command line (or a tree's migrations) in order, statement by
statement, and at the end the manifests of the indexes that still exist.

Per file: psql's meta-commands and COPY data are blanked (``psql``), the text is split with
PostgreSQL's scanner and parser (``parse``), each CREATE INDEX becomes an ``Entry`` (its table
resolved along the search path, its name PostgreSQL's if it has none) and every other statement
is followed (``follow``): a later DROP or RENAME changes the entry, so the manifests describe the
end state.
"""

from __future__ import annotations

from typing import Any

from pglast import ast

from dbindex_operator.tools.importing import (
    follow,
    naming,
    parse,
    partitions,
    psql,
    relations,
    render,
    search_path,
    spec,
    tags,
)
from dbindex_operator.tools.importing.model import Diagnostic, Inexpressible, Options
from dbindex_operator.tools.importing.relations import INDEX, TABLE, Entry, Relation
from dbindex_operator.tools.importing.search_path import TEMP_SCHEMA


class Importer:
    """Feed it files in order (``add_file``), then take the ``manifests``. ``taken`` holds the
    metadata names already used in the output (it is updated)."""

    def __init__(
        self, options: Options, *, require_names: bool = False, taken: set[str] | None = None
    ) -> None:
        self.options = options
        self.require_names = require_names
        self.taken = set() if taken is None else taken
        self.catalog = relations.Catalog()
        self.entries: list[Entry] = []
        self.diagnostics: list[Diagnostic] = []

    def add_file(
        self, filename: str, sql: str, *, version: str | None = None, note_empty: bool = True
    ) -> int:
        """Convert one file's statements (one session); return how many CREATE INDEX it held."""
        blanked, skipped = psql.blank_psql(sql)
        file, statements, syntax_errors = parse.split(blanked, filename)
        diagnostics = list(syntax_errors)
        for piece in skipped:
            diagnostics.append(Diagnostic(filename, file.line(piece.offset), _skipped(piece)))
        session = follow.Session(self.catalog, search_path.SearchPath())
        self._partitions = partitions.Tracker(filename)
        indexes = 0
        for statement in statements:
            indexes += self._statement(file, statement, session, version, diagnostics)
        diagnostics.extend(self._partitions.resolve(self.catalog))
        follow.end_of_session(self.catalog)
        diagnostics.sort(key=lambda d: d.line or 0)  # syntax errors among the statements
        if indexes == 0 and not syntax_errors and note_empty:
            diagnostics.append(Diagnostic(filename, None, "no CREATE INDEX statements found"))
        self.diagnostics.extend(diagnostics)
        return indexes

    def manifests(self) -> list[dict[str, Any]]:
        """The manifests of the indexes that exist at the end, in the order they were created."""
        manifests = []
        for entry in self.entries:
            if entry.dropped or entry.pending:
                continue
            name = render.unique_name(render.base_name(entry.spec["name"]), self.taken)
            in_tree = entry.version is not None
            manifests.append(
                render.manifest(
                    entry.spec,
                    name=name,
                    namespace=self.options.namespace,
                    description=entry.description,
                    source=entry.where if in_tree else None,
                    migration=entry.version,
                )
            )
        return manifests

    def _statement(
        self,
        file: parse.SourceFile,
        statement: parse.Statement,
        session: follow.Session,
        version: str | None,
        diagnostics: list[Diagnostic],
    ) -> int:
        """Convert or follow one statement; return how many CREATE INDEX it held."""
        first, line = parse.head(file, statement)
        session.where = f"{file.filename}:{line}"
        node = statement.node
        if isinstance(node, ast.CreateSchemaStmt) and any(
            isinstance(e, ast.IndexStmt) for e in node.schemaElts or ()
        ):
            follow.follow(node, session)
            why = "cannot express CREATE INDEX inside CREATE SCHEMA: make it a statement of its own"
            diagnostics.append(Diagnostic(file.filename, line, why, error=True))
            return 1
        if not isinstance(node, ast.IndexStmt):
            followed = follow.follow(node, session)
            attached = None
            if isinstance(node, ast.AlterTableStmt):
                attached = self._partitions.attach(node, session, line)
            if attached is not None:
                diagnostics.extend(Diagnostic(file.filename, line, n) for n in attached)
                return 0
            skipped = f"skipped {tags.statement_tag(node)} statement"
            diagnostics.extend(Diagnostic(file.filename, line, n) for n in followed or [skipped])
            return 0
        notes: list[str] = []
        try:
            entry = self._index(file, statement, node, first, session, notes)
        except Inexpressible as exc:
            diagnostics.append(Diagnostic(file.filename, line, str(exc), error=True))
            return 1
        diagnostics.extend(Diagnostic(file.filename, line, n) for n in notes)
        if entry is not None:
            entry.line, entry.version = line, version
            self.entries.append(entry)
        return 1

    _partitions: partitions.Tracker

    def _index(
        self,
        file: parse.SourceFile,
        statement: parse.Statement,
        node: ast.IndexStmt,
        first: int,
        session: follow.Session,
        notes: list[str],
    ) -> Entry | None:
        """The entry for a CREATE INDEX (None: IF NOT EXISTS of an existing name); raises
        Inexpressible."""
        relation = node.relation
        assert relation is not None and relation.relname is not None
        only = not relation.inh
        schema, spec_schema = self._table(relation, session, [] if only else notes)
        name = node.idxname or self._choose_name(node, relation.relname, schema, notes)
        existing = self.catalog.get(schema, name)
        if existing is not None:
            if node.if_not_exists:
                notes[:] = [
                    f"skipped: {schema}.{name} already exists (created at {existing.where}),"
                    " so IF NOT EXISTS makes PostgreSQL skip this statement"
                ]
                return None
            raise Inexpressible(
                f"{schema}.{name} already exists (created at {existing.where}):"
                " PostgreSQL refuses this statement"
            )
        index = Relation(INDEX, schema, name, session.where, table=(schema, relation.relname))
        self.catalog.add(index)
        tokens = parse.code_tokens(file, first, statement.end)
        built = spec.build(
            file, statement, node, tokens, self.options, schema=spec_schema, name=name, only=only
        )
        index.entry = Entry(built, file.filename, 0, None, render.description(file, first))
        if only:  # decided at the end of the file (partitions)
            index.entry.pending = True
            self._partitions.on_only(index, file.line(file.tokens[first].start))
        return index.entry

    def _table(
        self, rangevar: ast.RangeVar, session: follow.Session, notes: list[str]
    ) -> tuple[str, str | None]:
        """The schema of the index's table, and the schema the spec names (None: left out, the
        default ``public``); refuses temporary tables, notes partitioned ones."""
        name, path = rangevar.relname or "", session.path
        spec_schema: str | None
        if rangevar.schemaname:
            schema = spec_schema = rangevar.schemaname
            if schema == TEMP_SCHEMA or schema.startswith("pg_temp_"):
                raise Inexpressible(_temporary(name, None))
        else:
            found = relations.find(self.catalog, path.current, name, (TABLE,), assumed=False)
            if found is not None and found.temporary:
                raise Inexpressible(_temporary(name, found.where))
            if path.where is None:  # the default path: public, left out as before
                schema, spec_schema = found.schema if found else "public", None
            else:
                schema = spec_schema = _on_path(name, found, path, notes)
        table = self.catalog.get(schema, name)
        if table is None:  # made before these migrations: remembered so a DROP TABLE is followed
            table = Relation(TABLE, schema, name, "", assumed=True)
            self.catalog.add(table)
        if table.partitioned:
            notes.append(
                f"table {schema}.{name} is partitioned (PARTITION BY at {table.where}): the"
                " operator builds the index ON ONLY the table and then on every partition"
            )
        return schema, spec_schema

    def _choose_name(self, node: ast.IndexStmt, table: str, schema: str, notes: list[str]) -> str:
        if self.require_names:
            raise Inexpressible(
                "the index has no name: a DatabaseIndex needs an explicit name (--require-names)"
            )
        elements = [*(node.indexParams or ()), *(node.indexIncludingParams or ())]
        name = naming.index_name(table, elements, lambda n: self.catalog.taken(schema, n))
        notes.append(
            f"the index has no name: the manifest names it {name}, the name PostgreSQL gives it"
            f" (unless another relation in {schema} already has that name)"
        )
        return name


def _on_path(
    name: str,
    found: Relation | None,
    path: search_path.SearchPath,
    notes: list[str],
) -> str:
    """The schema a non-default search_path resolves an unqualified table name to."""
    shown, where = path.shown(), path.where
    if found is not None:
        schema = found.schema
        notes.append(
            f"table {name} is {schema}.{name} by search_path {shown} (set at {where}; the table"
            f" created at {found.where})"
        )
        return schema
    first = search_path.creation_schema(path.current)
    if first is None:
        raise Inexpressible(
            f"table {name} is not schema-qualified and search_path {shown} (set at {where}) has"
            " no schema to find it in"
        )
    notes.append(
        f"table {name} is taken to be {first}.{name}: the first schema of search_path {shown}"
        f" (set at {where}); these migrations create no table {name} on that path"
    )
    return first


def _temporary(name: str, where: str | None) -> str:
    created = f" (CREATE TEMP TABLE at {where})" if where else ""
    return (
        f"table {name} is a temporary table{created}: it exists only in the migration's own"
        " session, so no DatabaseIndex can build an index on it"
    )


def _skipped(piece: psql.Skipped) -> str:
    if piece.command is None:
        return f"skipped {piece.lines} line{'s' if piece.lines != 1 else ''} of COPY data"
    return f"skipped psql meta-command {piece.command}"
