"""From a file's text to located statements: scan the text into pglast tokens (comments
included), split it into statements, and map offsets to the line numbers diagnostics
show (``FILE:LINE``, the line of a statement's first token).

A file with a syntax error is parsed again one statement at a time, so that one typo does not
hide every other index in the file; each error becomes a diagnostic at the line where the parser
stopped.

Positions: pglast 8 reports node locations, statement offsets, scanner tokens and syntax error
positions as indexes into the Python ``str`` (it converts libpg_query's UTF-8 byte offsets), so
they slice the text directly.
"""

from __future__ import annotations

import bisect
import dataclasses
from typing import Final

from pglast import ast, parser

from dbindex_operator.tools.importing.model import Diagnostic

# Scanner token names.
COMMENTS: Final = frozenset({"SQL_COMMENT", "C_COMMENT"})
OPEN, CLOSE, COMMA, SEMICOLON = "ASCII_40", "ASCII_41", "ASCII_44", "ASCII_59"


@dataclasses.dataclass(frozen=True)
class Statement:
    """A parsed statement; ``base`` turns its node locations into offsets in the file."""

    node: ast.Node
    start: int
    end: int
    base: int


class SourceFile:
    """A file's text, its tokens (comments included) and the offset -> line mapping."""

    def __init__(self, sql: str, filename: str, tokens: list[parser.Token]) -> None:
        self.sql = sql
        self.filename = filename
        self.tokens = tokens
        self._starts = [t.start for t in tokens]
        self._lines = [0] + [i + 1 for i, c in enumerate(sql) if c == "\n"]

    def line(self, offset: int) -> int:
        return bisect.bisect_right(self._lines, offset)

    def token_index(self, offset: int) -> int:
        """Index of the first token that starts at or after ``offset``."""
        return bisect.bisect_left(self._starts, offset)

    def text(self, first: parser.Token, last: parser.Token) -> str:
        return self.sql[first.start : last.end + 1]  # token ends are inclusive


def split(sql: str, filename: str) -> tuple[SourceFile, list[Statement], list[Diagnostic]]:
    """The file's tokens and statements, and a diagnostic for each syntax error."""
    try:
        tokens = parser.scan(sql)
    except parser.ParseError as exc:  # a lexer error (e.g. an unterminated string) stops it all
        file = SourceFile(sql, filename, [])
        return file, [], [_syntax_error(file, exc, len(sql))]
    file = SourceFile(sql, filename, tokens)
    return file, *_statements(file)


def head(file: SourceFile, statement: Statement) -> tuple[int, int]:
    """The index of the statement's first token that is not a comment (``len(file.tokens)`` if
    none), and the line diagnostics about the statement name."""
    first = file.token_index(statement.start)
    while first < len(file.tokens) and file.tokens[first].name in COMMENTS:
        first += 1
    line = file.line(file.tokens[first].start if first < len(file.tokens) else statement.start)
    return first, line


def code_tokens(file: SourceFile, first: int, end: int) -> list[parser.Token]:
    """The statement's tokens without comments and without a trailing ';'."""
    last = file.token_index(end)
    return [t for t in file.tokens[first:last] if t.name not in COMMENTS and t.name != SEMICOLON]


def _statements(file: SourceFile) -> tuple[list[Statement], list[Diagnostic]]:
    """Parse the whole file; if it has a syntax error, parse it again one statement at a time so
    that one typo does not hide every other index in the file."""
    try:
        return [_statement(raw, file.sql, 0) for raw in parser.parse_sql(file.sql)], []
    except parser.ParseError as whole:
        statements, syntax_errors = _statements_one_by_one(file)
        return statements, syntax_errors or [_syntax_error(file, whole, len(file.sql))]


def _statements_one_by_one(file: SourceFile) -> tuple[list[Statement], list[Diagnostic]]:
    # Cutting at every ';' token is wrong only inside BEGIN ATOMIC bodies; we only get here for a
    # file that PostgreSQL would reject anyway.
    cuts = [t.start for t in file.tokens if t.name == SEMICOLON] + [len(file.sql)]
    statements: list[Statement] = []
    syntax_errors: list[Diagnostic] = []
    lo = 0
    for hi in cuts:
        chunk = file.sql[lo:hi]
        try:
            statements.extend(_statement(raw, chunk, lo) for raw in parser.parse_sql(chunk))
        except parser.ParseError as exc:
            syntax_errors.append(_syntax_error(file, exc, lo + len(chunk), base=lo))
        lo = hi + 1
    return statements, syntax_errors


def _statement(raw: ast.RawStmt, source: str, base: int) -> Statement:
    start = base + (raw.stmt_location or 0)
    length = raw.stmt_len or (len(source) - (raw.stmt_location or 0))  # 0 means "to the end"
    assert raw.stmt is not None
    return Statement(raw.stmt, start, start + length, base)


def _syntax_error(file: SourceFile, exc: parser.ParseError, end: int, base: int = 0) -> Diagnostic:
    position = exc.args[1] if len(exc.args) > 1 else None
    # No position means "at end of input": point at the last non-blank character.
    offset = max(len(file.sql[:end].rstrip()) - 1, 0) if position is None else base + position
    return Diagnostic(file.filename, file.line(offset), f"syntax error: {exc.args[0]}", error=True)
