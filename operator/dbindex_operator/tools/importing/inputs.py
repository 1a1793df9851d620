"""Reading the command line's inputs: SQL files, standard input (``-``) and migration
directories (``layouts``), all before converting any, so that an unreadable input prints nothing.

A file holding goose or dbmate up/down markers is read up to its down section like a migration of
a tree; a directory becomes its up migrations in version order, each with its version.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Final, TextIO

from dbindex_operator.tools.importing import layouts, sections
from dbindex_operator.tools.importing.model import Diagnostic

STDIN_PATH: Final = "-"
STDIN_NAME: Final = "<stdin>"


@dataclasses.dataclass(frozen=True)
class Source:
    """One file's SQL; ``version`` is set for a migration of a directory."""

    filename: str
    sql: str
    version: str | None = None
    tool: str | None = None  # the migration tool that runs it (None: a plain file)
    raw: str | None = None  # the text as written, when ``sql`` has parts blanked


@dataclasses.dataclass
class Input:
    """One command-line argument: its sources in order, and notes about the input itself."""

    path: str
    sources: list[Source]
    diagnostics: list[Diagnostic] = dataclasses.field(default_factory=list)
    tree: bool = False


def read_inputs(
    paths: Sequence[str], stdin: TextIO, stderr: TextIO, tool: str | None = None
) -> list[Input] | None:
    """Every input, or None after printing why one cannot be read to ``stderr``."""
    if list(paths).count(STDIN_PATH) > 1:
        print(f"error: {STDIN_PATH} (standard input) given more than once", file=stderr)
        return None
    inputs: list[Input] = []
    ok = True
    for path in paths:
        try:
            inputs.append(_read(path, stdin, tool))
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            where = getattr(exc, "filename", None) or path
            print(f"{where}: error: cannot read: {reason}", file=stderr)
            ok = False
        except layouts.TreeError as exc:
            print(f"{path}: error: {exc}", file=stderr)
            ok = False
    return inputs if ok else None


def _read(path: str, stdin: TextIO, tool: str | None) -> Input:
    if path != STDIN_PATH and os.path.isdir(path):
        tree = layouts.read_tree(path, tool)
        sources = [Source(m.path, m.sql, m.version, tree.tool, m.raw) for m in tree.migrations]
        return Input(path, sources, tree.diagnostics, tree=True)
    if path == STDIN_PATH:
        filename, sql = STDIN_NAME, stdin.read()
    else:
        filename = path
        with open(path, encoding="utf-8") as f:
            sql = f.read()
    marked = tool if tool in (sections.GOOSE, sections.DBMATE) else sections.marked_tool(sql)
    if marked is None:
        return Input(path, [Source(filename, sql, tool=tool)])
    up, _ = sections.up_section(sql, marked)
    note = Diagnostic(filename, None, f"{marked} migration: only its up section is read")
    return Input(path, [Source(filename, up, tool=marked, raw=sql)], [note])
