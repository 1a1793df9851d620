"""Whether a migration tool runs a file inside a transaction it opens itself, by the tool's own
convention for opting out:

    sqlx            wrapped unless the file starts with ``-- no-transaction``
    flyway          wrapped unless ``-- flyway:executeInTransaction=false`` in the file, or
                    ``executeInTransaction=false`` in its script configuration file
                    (``V1__name.sql.conf``), or unless Flyway itself recognises a statement
                    that cannot run in a transaction (``flyway_nontransactional``: its
                    PostgreSQL parser's regexes); a script mixing such statements with others is
                    refused by Flyway unless its setting mixed=true (then it runs unwrapped)
    goose           wrapped unless ``-- +goose NO TRANSACTION``
    dbmate          wrapped unless ``transaction:false`` on the ``-- migrate:up`` line
    golang-migrate  not wrapped (neither are plain files)

And whether it sends a file to PostgreSQL as ONE query string (``one_query``), which PostgreSQL
itself runs as one implicit transaction when the string holds more than one statement (checked
against PostgreSQL 15: ``CREATE INDEX CONCURRENTLY`` in such a string fails with 25001, even
after an explicit COMMIT in it):

    golang-migrate  the whole file in one Exec, unless the database URL sets x-multi-statement=true
                    (then it splits at semicolons): not visible in the file, so assumed off
    dbmate          with transaction:false, the up section in one Exec
    sqlx            with -- no-transaction, the file in one execute (its migrator's
                    execute_migration; without a transaction of its own)

(flyway and goose send statements one by one, and so does psql for plain files.)

Pure: the caller reads the script configuration file (``flyway_conf``).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Final

from pglast import ast, enums

from dbindex_operator.tools.importing import layouts, sections

_FLYWAY_OFF: Final = re.compile(
    r"^[ \t]*--[ \t]*flyway:executeInTransaction[ \t]*=[ \t]*false\b", re.IGNORECASE | re.MULTILINE
)
_FLYWAY_CONF_OFF: Final = re.compile(
    r"^[ \t]*(flyway\.)?executeInTransaction[ \t]*=[ \t]*false\b", re.IGNORECASE | re.MULTILINE
)
_GOOSE_OFF: Final = re.compile(r"^[ \t]*--[ \t]*\+goose[ \t]+NO[ \t]+TRANSACTION\b", re.I | re.M)
_DBMATE_UP: Final = re.compile(r"^[ \t]*--[ \t]*migrate:up\b(?P<options>.*)$", re.MULTILINE)
# Flyway's regexes ^REINDEX( VERBOSE)? (SCHEMA|DATABASE|SYSTEM), ^(CREATE|DROP) (DATABASE|...),
# ^ALTER SYSTEM, ^VACUUM, ^DISCARD ALL (ALTER TYPE ... ADD VALUE only before PostgreSQL 12).
_REINDEX_MANY: Final = (
    enums.ReindexObjectType.REINDEX_OBJECT_SCHEMA,
    enums.ReindexObjectType.REINDEX_OBJECT_DATABASE,
    enums.ReindexObjectType.REINDEX_OBJECT_SYSTEM,
)
_OUTSIDE: Final = (
    ast.CreatedbStmt,
    ast.DropdbStmt,
    ast.CreateTableSpaceStmt,
    ast.DropTableSpaceStmt,
    ast.CreateSubscriptionStmt,
    ast.DropSubscriptionStmt,
    ast.AlterSystemStmt,
)


@dataclasses.dataclass(frozen=True)
class Running:
    """How a tool sends one file to PostgreSQL."""

    wrapped: str | None = None  # why it runs the file in a transaction of its own
    one_query: str | None = None  # why it sends the file as one query string
    flyway: bool = False  # Flyway unwraps a script made only of statements it knows need that


def running(tool: str | None, raw: str, flyway_conf: str | None = None) -> Running:
    """How ``tool`` runs this file (its text as written)."""
    why = wrapped(tool, raw, flyway_conf)
    return Running(why, one_query(tool, raw), tool == layouts.FLYWAY and why is not None)


def flyway_nontransactional(node: ast.Node) -> bool:
    """Whether Flyway's PostgreSQL parser recognises the statement as one that cannot run in a
    transaction (its ``^(CREATE|DROP)( UNIQUE)? INDEX CONCURRENTLY`` and siblings). Its REINDEX
    regex knows only SCHEMA, DATABASE and SYSTEM: REINDEX INDEX|TABLE CONCURRENTLY is not."""
    if isinstance(node, ast.IndexStmt):
        return bool(node.concurrent)
    if isinstance(node, ast.DropStmt):
        return node.removeType == enums.ObjectType.OBJECT_INDEX and bool(node.concurrent)
    if isinstance(node, ast.ReindexStmt):
        return node.kind in _REINDEX_MANY
    if isinstance(node, ast.VacuumStmt):
        return bool(node.is_vacuumcmd)
    if isinstance(node, ast.DiscardStmt):
        return node.target == enums.DiscardMode.DISCARD_ALL
    return isinstance(node, _OUTSIDE)


def wrapped(tool: str | None, raw: str, flyway_conf: str | None = None) -> str | None:
    """Why ``tool`` runs this file (its text as written) in one transaction; None if it does not."""
    if tool == layouts.SQLX and not raw.startswith("-- no-transaction"):
        return "sqlx runs the migration in a transaction (no -- no-transaction first line)"
    if tool == layouts.FLYWAY:
        if _FLYWAY_OFF.search(raw) or (flyway_conf and _FLYWAY_CONF_OFF.search(flyway_conf)):
            return None
        return (
            "flyway runs the migration in a transaction (no executeInTransaction=false, and no"
            " statement Flyway knows cannot run in one: REINDEX INDEX|TABLE CONCURRENTLY is not"
            " among them)"
        )
    if tool == sections.GOOSE and not _GOOSE_OFF.search(raw):
        return "goose runs the migration in a transaction (no -- +goose NO TRANSACTION)"
    if tool == sections.DBMATE:
        up = _DBMATE_UP.search(raw)
        if up is None or "transaction:false" not in up["options"].replace(" ", ""):
            return (
                "dbmate runs the migration in a transaction (no transaction:false on -- migrate:up)"
            )
    return None


def one_query(tool: str | None, raw: str) -> str | None:
    """Why ``tool`` sends this file (its up part) to PostgreSQL as one query string, outside a
    transaction of its own; None if it does not (see the module docstring)."""
    if tool == layouts.GOLANG_MIGRATE:
        return (
            "golang-migrate sends the file to PostgreSQL as one query (unless the database URL"
            " sets x-multi-statement=true)"
        )
    if tool == sections.DBMATE and wrapped(tool, raw) is None:
        return "dbmate (transaction:false) sends the up section to PostgreSQL as one query"
    if tool == layouts.SQLX and wrapped(tool, raw) is None:
        return "sqlx (-- no-transaction) sends the file to PostgreSQL as one query"
    return None
