"""The lint rules: one migration file's statements -> the findings, each at the line of the
statement's first token. The file is read the way the importer reads it (psql meta-commands
blanked, PostgreSQL's parser); a table created earlier in the same file is new, so locking it
locks nobody (the lock rules skip it).

    create-index-not-concurrent   CREATE INDEX without CONCURRENTLY: blocks writes for the build
    concurrently-in-transaction   CONCURRENTLY inside a transaction (the tool's, BEGIN ...
                                  COMMIT, or the implicit one PostgreSQL opens for a query string
                                  of several statements, which golang-migrate sends): PostgreSQL
                                  refuses it
    concurrent-if-not-exists      CREATE INDEX CONCURRENTLY IF NOT EXISTS: a failed build leaves an
                                  INVALID index of that name, which IF NOT EXISTS then accepts
    reindex-not-concurrent        REINDEX without CONCURRENTLY: blocks writes (and reads using it)
    drop-index-not-concurrent     DROP INDEX without CONCURRENTLY: an ACCESS EXCLUSIVE lock
"""

from __future__ import annotations

import dataclasses
from typing import Any, Final

from pglast import ast, enums

from dbindex_operator.tools.importing import parse, psql
from dbindex_operator.tools.importing.model import Diagnostic
from dbindex_operator.tools.linting import transactions

RULES: Final = (
    "create-index-not-concurrent",
    "concurrently-in-transaction",
    "concurrent-if-not-exists",
    "reindex-not-concurrent",
    "drop-index-not-concurrent",
)
_TX = enums.TransactionStmtKind
_BEGIN: Final = (_TX.TRANS_STMT_BEGIN, _TX.TRANS_STMT_START)
_END: Final = (_TX.TRANS_STMT_COMMIT, _TX.TRANS_STMT_ROLLBACK, _TX.TRANS_STMT_PREPARE)


@dataclasses.dataclass
class Finding:
    filename: str
    line: int
    rule: str
    message: str
    suggestion: dict[str, Any] | None = None


@dataclasses.dataclass
class _File:
    """What one file has done so far: the tables it created, its indexes' tables."""

    filename: str
    wrapped: str | None
    one_query: str | None = None  # why the file goes to the server as one query string
    statements: int = 0
    mixed: int | None = None  # Flyway: the line of a transactional statement in an unwrapped one
    tables: set[str] = dataclasses.field(default_factory=set)
    indexes: dict[str, str] = dataclasses.field(default_factory=dict)
    begun: int | None = None  # the line of an open BEGIN
    findings: list[Finding] = dataclasses.field(default_factory=list)


def check(
    filename: str, sql: str, running: transactions.Running | None = None
) -> tuple[list[Finding], list[Diagnostic]]:
    """The findings of one file (``running``: how its tool sends it; None: statement by
    statement, as psql does), and its syntax errors."""
    running = running or transactions.Running()
    blanked, _ = psql.blank_psql(sql)
    source, statements, syntax_errors = parse.split(blanked, filename)
    lines = [parse.head(source, statement)[1] for statement in statements]
    state = _File(filename, running.wrapped, running.one_query, len(statements))
    if running.flyway:
        _flyway(state, [s.node for s in statements], lines)
    for statement, line in zip(statements, lines, strict=True):
        _statement(statement.node, line, state)
    return state.findings, syntax_errors


def _flyway(state: _File, nodes: list[ast.Node], lines: list[int]) -> None:
    """Flyway runs a script unwrapped when it recognises one of its statements as unable to run
    in a transaction; if the script also holds others, it refuses it (unless mixed=true)."""
    kinds = [transactions.flyway_nontransactional(node) for node in nodes]
    if any(kinds):
        state.wrapped = None
        ordinary = [line for line, kind in zip(lines, kinds, strict=True) if not kind]
        state.mixed = ordinary[0] if ordinary else None


def _statement(node: ast.Node, line: int, state: _File) -> None:
    if isinstance(node, ast.TransactionStmt):
        if node.kind in _BEGIN:
            state.begun = line
        elif node.kind in _END:
            state.begun = None
    elif isinstance(node, ast.CreateStmt | ast.CreateTableAsStmt):
        rangevar = node.relation if isinstance(node, ast.CreateStmt) else node.into.rel  # type: ignore[union-attr]
        if rangevar is not None and rangevar.relname:
            state.tables.add(rangevar.relname)
    elif isinstance(node, ast.IndexStmt):
        _create_index(node, line, state)
    elif isinstance(node, ast.ReindexStmt):
        _reindex(node, line, state)
    elif isinstance(node, ast.DropStmt) and node.removeType == enums.ObjectType.OBJECT_INDEX:
        _drop_index(node, line, state)


def _create_index(node: ast.IndexStmt, line: int, state: _File) -> None:
    table = node.relation.relname if node.relation is not None else None
    if node.idxname and table:
        state.indexes[node.idxname] = table
    if not node.concurrent:
        only = node.relation is not None and not node.relation.inh  # instant: no build
        if table not in state.tables and not only:
            _add(
                state,
                line,
                "create-index-not-concurrent",
                f"CREATE INDEX without CONCURRENTLY locks writes on {table} for the whole build:"
                " let the operator build it (the suggested manifest), or use CONCURRENTLY",
            )
        return
    _in_transaction(state, line, "CREATE INDEX CONCURRENTLY")
    if node.if_not_exists:
        _add(
            state,
            line,
            "concurrent-if-not-exists",
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS: a build that failed earlier leaves an"
            " INVALID index of this name, which IF NOT EXISTS silently accepts (the index is"
            " never used and still slows writes); the operator drops and rebuilds invalid ones",
        )


def _reindex(node: ast.ReindexStmt, line: int, state: _File) -> None:
    concurrent = any(
        isinstance(p, ast.DefElem) and p.defname == "concurrently" for p in node.params or ()
    )
    if concurrent:
        _in_transaction(state, line, "REINDEX CONCURRENTLY")
        return
    name = node.relation.relname if node.relation is not None else node.name
    kind = enums.ReindexObjectType
    table = state.indexes.get(name or "") if node.kind == kind.REINDEX_OBJECT_INDEX else name
    if node.kind in (kind.REINDEX_OBJECT_INDEX, kind.REINDEX_OBJECT_TABLE) and (
        table in state.tables
    ):
        return
    _add(
        state,
        line,
        "reindex-not-concurrent",
        f"REINDEX without CONCURRENTLY locks writes on the table of {name} (and reads that use"
        " the index) while it rebuilds: use REINDEX ... CONCURRENTLY outside a transaction",
    )


def _drop_index(node: ast.DropStmt, line: int, state: _File) -> None:
    if node.concurrent:
        _in_transaction(state, line, "DROP INDEX CONCURRENTLY")
        return
    names = [
        [n.sval or "" for n in name if isinstance(n, ast.String)] for name in node.objects or ()
    ]
    locked = [n[-1] for n in names if n and state.indexes.get(n[-1]) not in state.tables]
    if locked:
        _add(
            state,
            line,
            "drop-index-not-concurrent",
            f"DROP INDEX without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on the table of"
            f" {', '.join(locked)}, queued behind every running query: use DROP INDEX"
            " CONCURRENTLY (or deletionPolicy: Delete on its DatabaseIndex)",
        )


def _in_transaction(state: _File, line: int, what: str) -> None:
    if state.begun is not None:
        why = f"the file's BEGIN at line {state.begun} opens a transaction"
    elif state.wrapped is not None:
        why = state.wrapped
    elif state.mixed is not None:
        why = (
            f"flyway runs this script outside a transaction only if every statement is one it"
            f" knows cannot run in one, and line {state.mixed} is not: Flyway refuses the"
            " migration (or, with mixed=true, runs it all without a transaction; give it a"
            " migration of its own)"
        )
    elif state.one_query is not None and state.statements > 1:
        # PostgreSQL runs a query string of several statements as one implicit transaction.
        why = (
            f"{state.one_query}, and PostgreSQL runs a query of {state.statements} statements as"
            " one implicit transaction (give it a migration of its own)"
        )
    else:
        return
    _add(
        state,
        line,
        "concurrently-in-transaction",
        f"{what} cannot run inside a transaction block: {why}; PostgreSQL refuses it",
    )


def _add(state: _File, line: int, rule: str, message: str) -> None:
    state.findings.append(Finding(state.filename, line, rule, message))
