"""Validation of the SQL fragments a spec may carry: key expressions and WHERE predicates.

A fragment is spliced into our DDL, so it must be exactly one expression that cannot escape the
parentheses we put around it. Three checks, all with PostgreSQL's own parser (pglast):

1. the scanner: no comments, no statement separators, parentheses balanced and never closed
   below depth zero (so the text stays inside our parentheses whatever follows it);
2. the parser: as ``SELECT <expr>`` or ``SELECT 1 WHERE <pred>`` it is one plain SELECT with
   nothing but that one expression;
3. the tree: no sub-queries (SubLink) anywhere.

PostgreSQL itself later refuses non-immutable functions in index expressions and predicates.
"""

from __future__ import annotations

from typing import Any

from pglast import ast, enums, parser
from pglast.parser import ParseError

from dbindex_operator.core import errors

_MAX_FRAGMENT = 8192
_FORBIDDEN_TOKENS = {
    "SQL_COMMENT": "comments are not allowed",
    "C_COMMENT": "comments are not allowed",
    "ASCII_59": "';' is not allowed",
}
_OPEN, _CLOSE = "ASCII_40", "ASCII_41"
# Nodes that would make an index expression more than an expression.
_FORBIDDEN_NODES: tuple[type[ast.Node], ...] = (ast.SubLink, ast.RangeSubselect, ast.SelectStmt)


def expression(text: str, *, what: str = "expression") -> str:
    """Return the validated expression text (stripped), or raise SpecError."""
    body = _scan(text, what)
    # Parsed bare, so that `a, b` is two targets rather than one row constructor.
    stmt = _parse_single_select(f"SELECT {body}", what)
    targets = stmt.targetList or ()
    if (
        len(targets) != 1
        or stmt.whereClause is not None
        or targets[0].name is not None
        or _is_star(targets[0].val)
        or body.split(None, 1)[0].upper() == "ALL"  # `SELECT ALL a` parses as `SELECT a`
    ):
        raise errors.SpecError(f"{what} must be exactly one expression")
    _reject_other_clauses(stmt, what)
    _reject_nodes(targets[0], what)
    return body


def predicate(text: str, *, what: str = "where") -> str:
    """Return the validated WHERE predicate text (stripped), or raise SpecError."""
    body = _scan(text, what)
    stmt = _parse_single_select(f"SELECT 1 WHERE {body}", what)
    if len(stmt.targetList or ()) != 1 or stmt.whereClause is None:
        raise errors.SpecError(f"{what} must be exactly one boolean expression")
    _reject_other_clauses(stmt, what)
    _reject_nodes(stmt.whereClause, what)
    return body


def _scan(text: str, what: str) -> str:
    body = text.strip()
    if not body:
        raise errors.SpecError(f"{what} is empty")
    if len(body.encode()) > _MAX_FRAGMENT:
        raise errors.SpecError(f"{what} is longer than {_MAX_FRAGMENT} bytes")
    if "\x00" in body:
        raise errors.SpecError(f"{what} contains a NUL character")
    try:
        tokens = parser.scan(body)
    except ParseError as exc:
        raise errors.SpecError(f"{what} is not valid SQL: {exc.args[0]}") from None
    depth = 0
    for token in tokens:
        problem = _FORBIDDEN_TOKENS.get(token.name)
        if problem:
            raise errors.SpecError(f"{what}: {problem}")
        if token.name == _OPEN:
            depth += 1
        elif token.name == _CLOSE:
            depth -= 1
            if depth < 0:
                raise errors.SpecError(f"{what} has an unbalanced ')'")
    if depth != 0:
        raise errors.SpecError(f"{what} has an unbalanced '('")
    return body


def _parse_single_select(sql: str, what: str) -> ast.SelectStmt:
    try:
        statements = parser.parse_sql(sql)
    except ParseError as exc:
        raise errors.SpecError(f"{what} is not valid SQL: {exc.args[0]}") from None
    if len(statements) != 1 or not isinstance(statements[0].stmt, ast.SelectStmt):
        raise errors.SpecError(f"{what} must be a single expression")
    stmt: ast.SelectStmt = statements[0].stmt
    return stmt


def _reject_other_clauses(stmt: ast.SelectStmt, what: str) -> None:
    extra = (
        stmt.fromClause,
        stmt.groupClause,
        stmt.havingClause,
        stmt.windowClause,
        stmt.sortClause,
        stmt.limitCount,
        stmt.limitOffset,
        stmt.lockingClause,
        stmt.withClause,
        stmt.distinctClause,
        stmt.intoClause,
        stmt.valuesLists,
        stmt.larg,
        stmt.rarg,
    )
    if any(part for part in extra) or stmt.op != enums.SetOperation.SETOP_NONE:
        raise errors.SpecError(f"{what} must be a single expression")


def _is_star(node: Any) -> bool:
    """`*` or `t.*`: a target list entry, not an expression."""
    if isinstance(node, ast.A_Star):
        return True
    fields: tuple[Any, ...] = (node.fields or ()) if isinstance(node, ast.ColumnRef) else ()
    return bool(fields) and isinstance(fields[-1], ast.A_Star)


def _reject_nodes(node: Any, what: str) -> None:
    for child in _walk(node):
        if isinstance(child, _FORBIDDEN_NODES):
            raise errors.SpecError(f"{what} must not contain sub-queries")


def _walk(node: Any) -> Any:
    """Yield every AST node below (and including) node."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, (list, tuple)):
            stack.extend(current)
        elif isinstance(current, ast.Node):
            yield current
            stack.extend(getattr(current, slot) for slot in current.__slots__)  # type: ignore[attr-defined]
