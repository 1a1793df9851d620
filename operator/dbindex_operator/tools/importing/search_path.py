"""The session's ``search_path`` as the migration sets it, and PostgreSQL's rules for it:
``SET [LOCAL] search_path``, ``RESET``, ``SET search_path TO DEFAULT``, and
``SELECT set_config('search_path', '...', is_local)`` (as pg_dump writes it). ``SET`` lasts for
the session, ``SET LOCAL`` until the transaction ends, and a rolled back transaction restores the
session's value. Each migration file is a session of its own (migration tools run them on pooled
connections), so every file starts at PostgreSQL's default.
"""

from __future__ import annotations

import dataclasses
from typing import Final

from pglast import ast, enums

DEFAULT_PATH: Final = ("$user", "public")
TEMP_SCHEMA: Final = "pg_temp"
_NEVER_CREATED_IN: Final = frozenset({"$user", "pg_catalog", TEMP_SCHEMA})
_T = enums.TransactionStmtKind
_BEGIN: Final = (_T.TRANS_STMT_BEGIN, _T.TRANS_STMT_START)
_COMMIT: Final = (_T.TRANS_STMT_COMMIT, _T.TRANS_STMT_PREPARE)
_ROLLBACK: Final = (_T.TRANS_STMT_ROLLBACK,)


@dataclasses.dataclass
class SearchPath:
    """The session's search_path and where the value in effect was set."""

    session: tuple[str, ...] = DEFAULT_PATH
    session_where: str | None = None
    local: tuple[str, ...] | None = None
    local_where: str | None = None
    _saved: tuple[tuple[str, ...], str | None] | None = None

    @property
    def current(self) -> tuple[str, ...]:
        return self.local if self.local is not None else self.session

    @property
    def where(self) -> str | None:
        """Where the value in effect was set (None: PostgreSQL's default)."""
        return self.local_where if self.local is not None else self.session_where

    def set(self, path: tuple[str, ...] | None, *, local: bool, where: str | None) -> None:
        """Set (None: back to the default)."""
        value = DEFAULT_PATH if path is None else path
        where = None if path is None else where
        if local:
            self.local, self.local_where = value, where
        else:
            self.session, self.session_where = value, where

    def begin(self) -> None:
        self._saved = (self.session, self.session_where)

    def end(self, *, commit: bool) -> None:
        if not commit and self._saved is not None:
            self.session, self.session_where = self._saved
        self.local = self.local_where = self._saved = None

    def shown(self) -> str:
        return ", ".join(self.current) or "''"


def searched(path: tuple[str, ...]) -> list[str]:
    """The schemas an unqualified name is looked up in, in order: pg_temp first unless the path
    places it ("$user" and pg_catalog hold no tables of a migration)."""
    order = [] if TEMP_SCHEMA in path else [TEMP_SCHEMA]
    return order + [s for s in path if s not in ("$user", "pg_catalog")]


def creation_schema(path: tuple[str, ...]) -> str | None:
    """Where an unqualified CREATE puts a relation: the first schema of the path that can hold
    one (we cannot know which schemas exist, so the first listed)."""
    return next((s for s in path if s not in _NEVER_CREATED_IN), None)


def set_statement(node: ast.VariableSetStmt, path: SearchPath, where: str) -> list[str]:
    """``SET [LOCAL] search_path``, ``RESET``: the note it deserves (none: not search_path)."""
    kind = node.kind
    if kind == enums.VariableSetKind.VAR_RESET_ALL:
        path.set(None, local=False, where=None)
        return []
    if (node.name or "").lower() != "search_path" or kind == enums.VariableSetKind.VAR_SET_CURRENT:
        return []
    value = None
    if kind == enums.VariableSetKind.VAR_SET_VALUE:
        value = tuple(name for arg in node.args or () if (name := _constant(arg)))
    path.set(value, local=bool(node.is_local), where=where)
    return [f"followed {'SET LOCAL' if node.is_local else 'SET'} search_path: {path.shown()}"]


def set_config(node: ast.SelectStmt, path: SearchPath, where: str) -> list[str]:
    """``SELECT [pg_catalog.]set_config('search_path', 'a, b', is_local)`` (as pg_dump writes)."""
    notes = []
    for target in node.targetList or ():
        call = target.val if isinstance(target, ast.ResTarget) else None
        if not isinstance(call, ast.FuncCall) or len(call.args or ()) != 3:
            continue
        names = [n.sval for n in call.funcname or () if isinstance(n, ast.String)]
        setting, value, is_local = (_constant(a) for a in call.args or ())
        if names[-1:] != ["set_config"] or (setting or "").lower() != "search_path":
            continue
        if value is None or is_local is None:
            notes.append(
                "cannot follow set_config('search_path', ...): its arguments are not constants;"
                f" search_path stays {path.shown()}"
            )
            continue
        local = is_local.lower() in ("true", "t", "on", "yes", "y", "1")
        path.set(split_identifiers(value), local=local, where=where)
        notes.append(f"followed set_config('search_path'): {path.shown()}")
    return notes


def split_identifiers(value: str) -> tuple[str, ...]:
    """PostgreSQL's SplitIdentifierString for a list setting: comma-separated, blanks trimmed,
    "quoted" names kept as written ("" is a quote), unquoted names lowercased."""
    names: list[str] = []
    i, n = 0, len(value)
    while i < n:
        while i < n and value[i].isspace():
            i += 1
        if i < n and value[i] == '"':
            j, name = i + 1, ""
            while j < n and not (value[j] == '"' and value[j + 1 : j + 2] != '"'):
                name += value[j]
                j += 2 if value[j] == '"' else 1
            i = j + 1
        else:
            j = i
            while j < n and value[j] != "," and not value[j].isspace():
                j += 1
            name, i = value[i:j].lower(), j
        names.append(name)
        while i < n and value[i] != ",":
            i += 1
        i += 1
    return tuple(name for name in names if name)


def _constant(node: ast.Node | None) -> str | None:
    """A constant's text (``true``/``false`` for booleans), else None."""
    if isinstance(node, ast.TypeCast):
        node = node.arg
    value = node.val if isinstance(node, ast.A_Const) else None
    if isinstance(value, ast.String):
        return value.sval
    if isinstance(value, ast.Boolean):
        return "true" if value.boolval else "false"
    if isinstance(value, ast.Integer):
        return str(value.ival)
    return None


def transaction(node: ast.TransactionStmt, path: SearchPath) -> None:
    """BEGIN keeps the session's value for a ROLLBACK; the end of a transaction ends SET LOCAL."""
    if node.kind in _BEGIN:
        path.begin()
    elif node.kind in _COMMIT or node.kind in _ROLLBACK:
        path.end(commit=node.kind in _COMMIT)
