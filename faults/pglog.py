"""What the operator asked PostgreSQL, read from PostgreSQL's own log (not the operator's).

A scenario's dedicated database gets ``log_statement = all`` (``ALTER DATABASE``: only new
sessions in that database), and while the scenario runs the server logs every connection
(``log_connections``, which can only be set server-wide; reset afterwards). A "connection
authorized" line names the database and the application of a backend PID; every statement line
of such a PID is attributed to it. The server's default ``log_line_prefix`` ('%m [%p] ') is all
this needs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import time
from collections.abc import Iterator

from tests.harness import pg

_CONNECTED = re.compile(
    r"\[(\d+)\] LOG:  connection authorized: .*?database=(\S+)(?: application_name=(\S+))?"
)
_STATEMENT = re.compile(r"\[(\d+)\] LOG:  (?:statement|execute [^:]*): (.*)")


@dataclasses.dataclass
class Activity:
    connections: int = 0
    statements: int = 0
    ddl: int = 0  # CREATE / DROP / ALTER INDEX among them
    sample: list[str] = dataclasses.field(default_factory=list)


@contextlib.contextmanager
def logging_everything(admin: str, dbname: str) -> Iterator[None]:
    """Within: new sessions in `dbname` log every statement, and every new session its
    connection (database and application name)."""
    pg.execute(admin, f"ALTER DATABASE \"{dbname}\" SET log_statement = 'all'")
    _log_connections(admin, "on")
    try:
        yield
    finally:
        _log_connections(admin, None)


def _log_connections(admin: str, value: str | None) -> None:
    if value is None:
        pg.execute(admin, "ALTER SYSTEM RESET log_connections")
    else:
        pg.execute(admin, f"ALTER SYSTEM SET log_connections = {value}")
    pg.query(admin, "SELECT pg_reload_conf()")
    time.sleep(0.5)  # the postmaster re-reads its configuration asynchronously


def activity(text: str, dbname: str, application: str, count_from: int = 0) -> Activity:
    """Connections and statements of `application`'s sessions in `dbname` within `text` (a
    slice of the server log); only those at or after character `count_from` are counted (the
    connection lines before it still attribute PIDs)."""
    found = Activity()
    ours: set[str] = set()
    position = 0
    for line in text.splitlines(keepends=True):
        counted = position >= count_from
        position += len(line)
        connected = _CONNECTED.search(line)
        if connected:
            pid, database, app = connected.groups()
            if database == dbname and app == application:
                ours.add(pid)
                found.connections += counted
            continue
        statement = _STATEMENT.search(line)
        if statement and statement.group(1) in ours and counted:
            found.statements += 1
            text_of = statement.group(2)
            if re.match(r"\s*(CREATE|DROP|ALTER)\s.*INDEX", text_of, re.IGNORECASE):
                found.ddl += 1
            if len(found.sample) < 5:
                found.sample.append(text_of[:120])
    return found
