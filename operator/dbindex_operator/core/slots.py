"""Build slots: at most N builds per database and one per table, decided without blocking.

Blocking advisory locks in the database can deadlock CREATE INDEX CONCURRENTLY (POSTGRES.md), so
the operator serialises its own work in memory and reads the catalog for everyone else's.
"""

from __future__ import annotations

import collections

Database = tuple[str, str, str]  # host, port, dbname


class Slots:
    def __init__(self, per_database: int) -> None:
        self.per_database = per_database
        self._tables: set[tuple[Database, int]] = set()
        self._running: collections.Counter[Database] = collections.Counter()

    def try_acquire(self, database: Database, table_oid: int) -> bool:
        if (database, table_oid) in self._tables:
            return False
        if self._running[database] >= self.per_database:
            return False
        self._tables.add((database, table_oid))
        self._running[database] += 1
        return True

    def release(self, database: Database, table_oid: int) -> None:
        if (database, table_oid) in self._tables:
            self._tables.discard((database, table_oid))
            self._running[database] -= 1

    def running(self, database: Database) -> int:
        return self._running[database]
