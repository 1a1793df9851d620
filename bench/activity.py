"""Catches a build session in pg_stat_activity: when it connected (backend_start) and when its
CREATE INDEX CONCURRENTLY started (query_start), as the server records them. A thread polls
from its own connection every `interval` seconds until it has seen the statement, then stops:
the operator is not slowed (nothing of it is touched) and the server answers from shared memory.
"""

from __future__ import annotations

import asyncio
import threading

import asyncpg

_QUERY = """
SELECT extract(epoch FROM backend_start)::float8 AS connected,
       extract(epoch FROM query_start)::float8 AS started
FROM pg_stat_activity
WHERE datname = $1 AND pid <> pg_backend_pid()
  AND query ILIKE 'CREATE%INDEX%CONCURRENTLY%' AND state = 'active'
ORDER BY query_start LIMIT 1"""


class BuildCatcher:
    def __init__(self, dsn: str, database: str, interval: float = 0.02) -> None:
        self.dsn = dsn
        self.database = database
        self.interval = interval
        self.connected: float | None = None  # epoch seconds
        self.started: float | None = None
        self.error: str | None = None
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="build-catcher", daemon=True)

    def __enter__(self) -> BuildCatcher:
        self._thread.start()
        self._ready.wait(timeout=30)  # connected and polling before the measured side starts
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _main(self) -> None:
        try:
            asyncio.run(self._poll())
        except Exception as exc:  # a figure goes missing; the measurement itself goes on
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self._ready.set()

    async def _poll(self) -> None:
        conn = await asyncpg.connect(self.dsn, statement_cache_size=0)
        try:
            self._ready.set()
            while not self._stop.is_set():
                row = await conn.fetchrow(_QUERY, self.database)
                if row is not None:
                    self.connected, self.started = row["connected"], row["started"]
                    return
                await asyncio.sleep(self.interval)
        finally:
            await conn.close()
