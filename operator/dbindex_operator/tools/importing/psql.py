"""What psql reads but PostgreSQL never sees: meta-commands (``\\set ON_ERROR_STOP on``,
``\\connect``, ``\\i file``, ...) and the data lines after ``COPY ... FROM stdin;``.

Both are blanked out of the text before it is scanned (each character becomes a space, line
breaks stay), so offsets and line numbers are unchanged and the statement after a meta-command
parses like any other. Like psql, a line is a meta-command when it starts with a backslash outside
a statement: not inside a string, a quoted identifier, a dollar-quoted body or a comment, and
with nothing but comments since the last top-level ``;``. A backslash line inside a statement is
left alone (psql would run it with half a statement; the parser reports it).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Final

_DOLLAR_TAG: Final = re.compile(r"\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$")
_IDENTIFIER_CHAR: Final = re.compile(r"[A-Za-z0-9_$\u0080-\uffff]")
_COPY_FROM_STDIN: Final = re.compile(r"(?is)\s*\\?copy\b.*\bfrom\s+p?stdin\b")
_END_OF_DATA: Final = "\\."


@dataclasses.dataclass(frozen=True)
class Skipped:
    """A blanked line range: a meta-command (``command`` is its name, e.g. ``\\set``) or COPY
    data (``command`` is None), starting at ``offset``."""

    offset: int
    command: str | None
    lines: int = 1


def blank_psql(sql: str) -> tuple[str, list[Skipped]]:
    """``sql`` with psql's meta-command lines and COPY data blanked, and what was blanked."""
    chars = list(sql)
    skipped: list[Skipped] = []
    scanner = _Scanner(sql)
    while scanner.i < len(sql):
        start = scanner.i
        line_start = start == 0 or sql[start - 1] == "\n"
        end = _line_end(sql, start) if line_start and not scanner.in_statement else start
        command = sql[start:end].strip(" \t\r")
        if command.startswith("\\"):
            skipped.append(Skipped(start, command.split()[0]))
            _blank(chars, start, end)
            scanner.i = end
            if _COPY_FROM_STDIN.match(command):
                scanner.i = _skip_copy_data(sql, chars, end, skipped)
            continue
        if scanner.step() == ";" and _COPY_FROM_STDIN.match(sql[scanner.statement_start : start]):
            scanner.i = _skip_copy_data(sql, chars, _line_end(sql, scanner.i), skipped)
    return "".join(chars), skipped


class _Scanner:
    """Just enough of psql's lexer to know where statements, strings and comments are."""

    def __init__(self, sql: str) -> None:
        self.sql = sql
        self.i = 0
        self.in_statement = False
        self.statement_start = 0
        self.depth = 0

    def step(self) -> str:
        """Consume one token-ish piece; return ``;`` for a statement's end, else ``""``."""
        sql, i = self.sql, self.i
        c, two = sql[i], sql[i : i + 2]
        if two == "--":
            self.i = _line_end(sql, i)
            return ""
        if two == "/*":
            self.i = _block_comment_end(sql, i)
            return ""
        if c.isspace():
            self.i = i + 1
            return ""
        if not self.in_statement:
            self.in_statement, self.statement_start = True, i
        if c == ";" and self.depth == 0:
            self.in_statement, self.i = False, i + 1
            return ";"
        self.depth += (c == "(") - (c == ")")
        self.i = self._literal_end(i) if c in "'\"$" else i + 1
        return ""

    def _literal_end(self, i: int) -> int:
        sql, c = self.sql, self.sql[i]
        if c == "$":
            match = _DOLLAR_TAG.match(sql, i)
            if match is None or (i > 0 and _IDENTIFIER_CHAR.match(sql[i - 1])):
                return i + 1  # $1, or part of an identifier such as a$b
            close = sql.find(match.group(), match.end())
            return len(sql) if close < 0 else close + len(match.group())
        escapes = c == "'" and i > 0 and sql[i - 1] in "eE" and not _word_before(sql, i - 1)
        j = i + 1
        while j < len(sql):
            if escapes and sql[j] == "\\":
                j += 2
                continue
            if sql[j] == c:
                if sql[j + 1 : j + 2] != c:
                    return j + 1
                j += 1  # a doubled quote
            j += 1
        return len(sql)


def _word_before(sql: str, i: int) -> bool:
    """Whether ``sql[i]`` continues an identifier (so ``e'`` is not an E'' string)."""
    return i > 0 and bool(_IDENTIFIER_CHAR.match(sql[i - 1]))


def _skip_copy_data(sql: str, chars: list[str], start: int, skipped: list[Skipped]) -> int:
    """Blank the data lines of COPY ... FROM stdin, up to and including ``\\.``; return the
    offset after them."""
    i = start + 1 if start < len(sql) else start
    first, lines = i, 0
    while i < len(sql):
        end = _line_end(sql, i)
        lines += 1
        if sql[i:end].rstrip("\r") == _END_OF_DATA:
            i = end
            break
        i = end + 1
    if lines:
        _blank(chars, first, min(i, len(sql)))
        skipped.append(Skipped(first, None, lines))
    return i


def _blank(chars: list[str], start: int, end: int) -> None:
    for k in range(start, end):
        if chars[k] not in "\n\r":
            chars[k] = " "


def _line_end(sql: str, i: int) -> int:
    end = sql.find("\n", i)
    return len(sql) if end < 0 else end


def _block_comment_end(sql: str, i: int) -> int:
    depth, j = 0, i
    while j < len(sql):
        two = sql[j : j + 2]
        if two == "/*":
            depth, j = depth + 1, j + 2
        elif two == "*/":
            depth, j = depth - 1, j + 2
            if depth == 0:
                return j
        else:
            j += 1
    return len(sql)
