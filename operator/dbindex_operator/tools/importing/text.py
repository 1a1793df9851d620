"""The text of index expressions and WHERE predicates, as the manifest carries it.

The user's own text is cut out of the statement at token boundaries, minus its SQL comments (the
operator refuses comments in fragments); where that text does not re-parse to the same syntax
tree, pglast's deparser writes it instead. Either way the text is checked to parse back to the
original tree (``SELECT <text>``, see ``reparses_to``).
"""

from __future__ import annotations

import contextlib

from pglast import ast, parser
from pglast.stream import RawStream

from dbindex_operator.tools.importing.model import Inexpressible
from dbindex_operator.tools.importing.parse import CLOSE, COMMA, COMMENTS, OPEN, SourceFile

Span = tuple[int, int]
"""A character range of the file, both ends inclusive (like token ends)."""


def element_spans(tokens: list[parser.Token], relation_at: int) -> list[tuple[int, int]] | None:
    """Token index ranges [lo, hi) of each index key: split the first parenthesised list after the
    table name at its top-level commas."""
    opening = next(
        (i for i, t in enumerate(tokens) if t.start > relation_at and t.name == OPEN), None
    )
    if opening is None:
        return None
    spans: list[tuple[int, int]] = []
    depth, lo = 0, opening + 1
    for i in range(opening, len(tokens)):
        name = tokens[i].name
        depth += (name == OPEN) - (name == CLOSE)
        if depth == 0:
            return [*spans, (lo, i)]
        if depth == 1 and name == COMMA:
            spans.append((lo, i))
            lo = i + 1
    return None


def expression_span(tokens: list[parser.Token], lo: int, hi: int) -> Span | None:
    """Character range of an expression key: the inside of ``( expr )``, or a function call up to
    the parenthesis closing its arguments (what follows is COLLATE, opclass, ASC/DESC, NULLS)."""
    if lo >= hi:
        return None
    if tokens[lo].name == OPEN:
        close = _matching(tokens, lo)
        if close is None or close - lo < 2:
            return None
        return tokens[lo + 1].start, tokens[close - 1].end
    opening = next((i for i in range(lo, hi) if tokens[i].name == OPEN), None)
    if opening is None:  # CURRENT_DATE and friends: a single keyword
        return tokens[lo].start, tokens[lo].end
    close = _matching(tokens, opening)
    return None if close is None else (tokens[lo].start, tokens[close].end)


def _matching(tokens: list[parser.Token], opening: int) -> int | None:
    depth = 0
    for i in range(opening, len(tokens)):
        depth += (tokens[i].name == OPEN) - (tokens[i].name == CLOSE)
        if depth == 0:
            return i
    return None


def where_span(tokens: list[parser.Token]) -> Span | None:
    """WHERE is the last clause of CREATE INDEX: its text runs from the top-level WHERE keyword to
    the end of the statement."""
    depth, keyword = 0, None
    for i, token in enumerate(tokens):
        depth += (token.name == OPEN) - (token.name == CLOSE)
        if depth == 0 and token.name == "WHERE":
            keyword = i
            break
    if keyword is not None and keyword + 1 < len(tokens):
        return tokens[keyword + 1].start, tokens[-1].end
    return None


def expression_text(file: SourceFile, node: ast.Node, span: Span | None, what: str) -> str:
    """The user's text when it parses back to ``node``, else the deparser's; never neither."""
    candidates = []
    if span is not None:
        candidates.append(_without_comments(file, *span))
    with contextlib.suppress(Exception):  # a deparser failure leaves the user's text to try
        candidates.append(RawStream()(node))
    for text in candidates:
        if reparses_to(text, node):
            return text
    raise Inexpressible(f"cannot reproduce the text of the {what}")


def _without_comments(file: SourceFile, start: int, end: int) -> str:
    """The text from ``start`` to ``end`` (inclusive) minus its comments: the operator refuses
    comments in fragments. A comment's gap becomes a space, or keeps the line break and the
    indentation of the next line, so the user's layout survives."""
    pieces: list[str] = []
    previous: parser.Token | None = None
    commented = False
    for token in file.tokens[file.token_index(start) :]:
        if token.start > end:
            break
        if token.name in COMMENTS:
            commented = True
            continue
        if previous is not None:
            gap = file.sql[previous.end + 1 : token.start]
            pieces.append(_layout(file, gap, token) if commented else gap)
        pieces.append(file.text(token, token))
        previous, commented = token, False
    return "".join(pieces)


def _layout(file: SourceFile, gap: str, token: parser.Token) -> str:
    line_start = file.sql.rfind("\n", 0, token.start) + 1
    indentation = file.sql[line_start : token.start]
    if "\n" in gap and not indentation.strip():
        return "\n" + indentation
    return " "


def reparses_to(text: str, node: ast.Node) -> bool:
    """Whether ``SELECT <text>`` is one statement whose only target is ``node`` (locations and
    redundant parentheses aside): the contract for expression and predicate text."""
    try:
        parsed = parser.parse_sql(f"SELECT {text}")
    except parser.ParseError:
        return False
    if len(parsed) != 1 or not isinstance(parsed[0].stmt, ast.SelectStmt):
        return False
    select = parsed[0].stmt
    targets = select.targetList or ()
    if len(targets) != 1 or select.fromClause or select.whereClause:
        return False
    target = targets[0]
    return isinstance(target, ast.ResTarget) and target.name is None and target.val == node
