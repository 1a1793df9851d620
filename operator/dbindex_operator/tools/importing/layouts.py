"""A directory of migrations -> its "up" migrations in the order the tool runs them.

    sqlx            NNN_name.sql, or NNN_name.up.sql / .down.sql        by version (an integer)
    flyway          V1_2__name.sql (subdirectories too); R__name.sql     by version (1.2 < 1.10);
                    repeatables after all versioned ones, by description; U (undo) and B
                    (baseline) migrations and callbacks are skipped
    golang-migrate  N_name.up.sql (.down.sql ignored)                    by version
    goose           N_name.sql with -- +goose Up / -- +goose Down       by version
    dbmate          N_name.sql with -- migrate:up / -- migrate:down     by version
    plain           files whose names start with a number                by that number, then name

The tool is recognised from the file names and the up/down markers (``--tool`` forces one).
Every migration's version is what the tool records in its history table (``dbindex.dev/migration``
on the manifests). Files of the other direction are blanked out of goose and dbmate files, line
numbers kept (``sections``).
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import re
from typing import Any, Final

from dbindex_operator.tools.importing import sections
from dbindex_operator.tools.importing.model import Diagnostic

SQLX, FLYWAY, GOLANG_MIGRATE, PLAIN = "sqlx", "flyway", "golang-migrate", "plain"
TOOLS: Final = (SQLX, FLYWAY, GOLANG_MIGRATE, sections.GOOSE, sections.DBMATE, PLAIN)

_FLYWAY: Final = re.compile(r"(?P<kind>[VUB])(?P<version>\d+(?:[._]\d+)*)__(?P<name>.+)\.sql")
_REPEATABLE: Final = re.compile(r"R__(?P<name>.+)\.sql")
_UP_DOWN: Final = re.compile(r"(?P<version>\d+)_(?P<name>.*)\.(?P<direction>up|down)\.sql")
_NUMBERED: Final = re.compile(r"(?P<version>\d+)_(?P<name>.+)\.sql")
_LEADING_NUMBER: Final = re.compile(r"(?P<version>\d+)(?P<name>.*)\.sql")


@dataclasses.dataclass(frozen=True)
class Migration:
    """One up migration: its path (the directory joined with its name), its version as the tool
    records it, and its SQL with anything but the up part blanked."""

    path: str
    version: str
    sql: str
    raw: str = ""  # the file as written (markers and down section included)


@dataclasses.dataclass
class Tree:
    tool: str
    migrations: list[Migration]
    diagnostics: list[Diagnostic]


class TreeError(Exception):
    """A directory that cannot be read as migrations (the tool itself would refuse it)."""


def read_tree(directory: str, tool: str | None) -> Tree:
    """The migrations of ``directory`` in the order ``tool`` (None: recognise it) runs them.
    Raises OSError (unreadable file) and TreeError (a file that is not UTF-8, two migrations of
    one version)."""
    files = _sql_files(directory, recursive=tool in (None, FLYWAY))
    chosen, reason = (tool, "--tool") if tool else _recognise(files)
    if chosen != FLYWAY:
        files = {name: sql for name, sql in files.items() if os.sep not in name}
    tree = Tree(chosen, [], [])
    ordered: list[tuple[Any, Migration]] = []
    for name, sql in files.items():
        path = os.path.join(directory, name)
        found = _migration(chosen, name, sql, path, tree.diagnostics)
        if found is not None:
            ordered.append((found[0], Migration(path, found[1], found[2], sql)))
    ordered.sort(key=lambda pair: (pair[0], pair[1].path))
    _check_unique(chosen, ordered)
    tree.migrations = [migration for _, migration in ordered]
    summary = f"{chosen} migrations ({reason}): {len(tree.migrations)} in version order"
    tree.diagnostics.insert(0, Diagnostic(directory, None, summary))
    return tree


def _sql_files(directory: str, *, recursive: bool) -> dict[str, str]:
    """Every ``*.sql`` file under ``directory`` (path relative to it -> text)."""
    found: dict[str, str] = {}
    for root, dirs, names in os.walk(directory):
        dirs.sort()
        if not recursive:
            dirs.clear()
        for name in sorted(names):
            if name.endswith(".sql"):
                path = os.path.join(root, name)
                try:
                    with open(path, encoding="utf-8") as f:
                        found[os.path.relpath(path, directory)] = f.read()
                except UnicodeDecodeError as exc:
                    raise TreeError(f"cannot read {path}: {exc}") from None
    return found


def _recognise(files: dict[str, str]) -> tuple[str, str]:
    """The tool whose layout the files follow, and why we think so."""
    names = [os.path.basename(name) for name in files]
    if any(_FLYWAY.fullmatch(n) or _REPEATABLE.fullmatch(n) for n in names):
        return FLYWAY, "V<version>__<name>.sql file names"
    top = {name: sql for name, sql in files.items() if os.sep not in name}
    for tool in (sections.GOOSE, sections.DBMATE):
        if any(sections.marked_tool(sql) == tool for sql in top.values()):
            marker = "-- +goose Up" if tool == sections.GOOSE else "-- migrate:up"
            return tool, f"{marker} markers"
    if top and all(_UP_DOWN.fullmatch(n) for n in top):
        return GOLANG_MIGRATE, "N_name.up.sql / .down.sql file names"
    if top and all(_NUMBERED.fullmatch(n) or _UP_DOWN.fullmatch(n) for n in top):
        return SQLX, "NNN_name.sql file names"
    return PLAIN, "numbered file names"


def _migration(
    tool: str, name: str, sql: str, path: str, diagnostics: list[Diagnostic]
) -> tuple[Any, str, str] | None:
    """(sort key, version, up text) of the file, or None (with a note) if it is not an up
    migration of ``tool``."""
    base = os.path.basename(name)
    if tool == FLYWAY:
        return _flyway(base, sql, path, diagnostics)
    if tool in (GOLANG_MIGRATE, SQLX):
        match = _UP_DOWN.fullmatch(base)
        if match is not None:
            if match["direction"] == "down":
                return None  # the other direction: never run by a migration to the end state
        elif tool == SQLX:
            match = _NUMBERED.fullmatch(base)
    elif tool in (sections.GOOSE, sections.DBMATE):
        match = _NUMBERED.fullmatch(base)
        if match is not None:
            sql, has_up = sections.up_section(sql, tool)
            if not has_up:
                why = f"no up section ({_UP_MARKERS[tool]}): {tool} refuses this migration"
                diagnostics.append(Diagnostic(path, None, why, error=True))
                return None
    else:
        match = _LEADING_NUMBER.fullmatch(base)
    if match is None:
        diagnostics.append(Diagnostic(path, None, f"skipped: not a {tool} migration file name"))
        return None
    digits = match["version"]
    version = digits if tool in (sections.DBMATE, PLAIN) else str(int(digits))
    return (0, int(digits)), version, sql


_UP_MARKERS: Final = {sections.GOOSE: "-- +goose Up", sections.DBMATE: "-- migrate:up"}


def _flyway(
    base: str, sql: str, path: str, diagnostics: list[Diagnostic]
) -> tuple[Any, str, str] | None:
    versioned, repeatable = _FLYWAY.fullmatch(base), _REPEATABLE.fullmatch(base)
    if versioned is not None and versioned["kind"] == "V":
        parts = [int(p) for p in re.split(r"[._]", versioned["version"])]
        while len(parts) > 1 and parts[-1] == 0:
            parts.pop()  # Flyway: 1.0 is 1
        return (0, tuple(parts)), versioned["version"].replace("_", "."), sql
    if repeatable is not None:
        return (1, repeatable["name"]), base.removesuffix(".sql"), sql
    kind = {"U": "an undo migration", "B": "a baseline migration"}.get(
        versioned["kind"] if versioned else "", "not a flyway migration file name"
    )
    diagnostics.append(Diagnostic(path, None, f"skipped: {kind}"))
    return None


def _check_unique(tool: str, ordered: list[tuple[Any, Migration]]) -> None:
    if tool == PLAIN:
        return  # plain numbers may repeat: the file name breaks the tie
    for (key, first), (other, second) in itertools.pairwise(ordered):
        if key == other:
            raise TreeError(
                f"two {tool} migrations of version {first.version}: {first.path} and"
                f" {second.path} ({tool} refuses to run them)"
            )
