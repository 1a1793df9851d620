"""Scenarios 5 and 6: a build that cannot finish until someone else acts.

5. An idle-in-transaction writer: CREATE INDEX CONCURRENTLY waits for it ("waiting for writers
   before build"). The status must name the blocking PID (figure: seconds from the wait being
   visible in pg_stat_progress_create_index to the status naming the PID), lock_timeout must
   end the attempt (55P03), the build is retried, and is Ready once the blocker commits.
6. UNIQUE over duplicate data: Failed with 23505, then a window in which neither attempts nor
   DDL happen (counted from PostgreSQL's log, not the operator's), then Ready after the data is
   fixed and the retry annotation set.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import asyncpg
from tests.harness import pg

from faults import pglog
from faults.context import (
    APPLICATION,
    FAST_RETRY,
    OPERATOR_SETTINGS,
    BuildWatch,
    Context,
    Run,
    big_spec,
    indexes_on,
    invalid_indexes,
)


class Blocker:
    """A session that runs `statement` in a transaction and then sits idle in it."""

    def __init__(self, dsn: str, statement: str) -> None:
        self.dsn, self.statement = dsn, statement
        self.pid = 0
        self._ready = threading.Event()
        self._release = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._hold()), daemon=True)

    def __enter__(self) -> Blocker:
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the blocker did not start")
        return self

    def release(self) -> float:
        self._release.set()
        self._thread.join(30)
        return time.monotonic()

    def __exit__(self, *exc: object) -> None:
        self.release()

    async def _hold(self) -> None:
        conn = await asyncpg.connect(self.dsn)
        try:
            async with conn.transaction():
                await conn.execute(self.statement)
                self.pid = conn.get_server_pid()
                self._ready.set()
                while not self._release.is_set():
                    await asyncio.sleep(0.05)
        finally:
            await conn.close()


def _progress(status: dict[str, Any]) -> dict[str, Any]:
    progress: dict[str, Any] = status.get("progress") or {}
    return progress


def idle_blocker(ctx: Context) -> Run:
    run = Run()
    namespace, dsn = ctx.target(big=True)
    with BuildWatch(ctx.admin) as watch, Blocker(dsn, "UPDATE big SET k = k WHERE id = 1") as hold:
        ctx.kube.create(namespace, "big-k", big_spec(build={"lockTimeout": "2s"}))
        seen = _wait_visible_wait(dsn)
        _, named = ctx.wait(
            namespace,
            "big-k",
            lambda s: hold.pid in _progress(s).get("blockingPids", []),
            60,
            "the blocking PID in status",
        )
        run.figures["blocker_named_after_s"] = round(max(0.0, named - seen), 3)
        run.figures["progress_interval_s"] = float(OPERATOR_SETTINGS["DBINDEX_PROGRESS_INTERVAL"])
        ctx.wait(
            namespace,
            "big-k",
            lambda s: (s.get("lastError") or {}).get("sqlstate") == "55P03",
            60,
            "lock_timeout (55P03)",
        )
        # The INVALID leftover's DROP INDEX CONCURRENTLY waits for the same blocker (each try
        # bounded by lock_timeout): hold on for a few of them, then let go.
        time.sleep(6)
        released = hold.release()
        ready = ctx.wait_ready(namespace, "big-k")
    attempts = ctx.kube.status(namespace, "big-k").get("attempts") or 0
    run.figures["attempts"] = attempts
    if attempts < 2:
        run.error = f"Ready after {attempts} attempt(s): the build was never retried"
    run.ok = True
    run.recover_s = round(ready - released, 3)
    run.invalid_left = invalid_indexes(dsn)
    run.duplicate_builds = watch.duplicates + max(0, indexes_on(dsn, "big") - 1)
    return run


def _wait_visible_wait(dsn: str, timeout: float = 60) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = pg.query(
            dsn,
            "SELECT 1 FROM pg_stat_progress_create_index "
            "WHERE datname = current_database() AND phase LIKE 'waiting%'",
        )
        if rows:
            return time.monotonic()
        time.sleep(0.05)
    raise RuntimeError("the build never waited for the blocker")


def unique_duplicates(ctx: Context) -> Run:
    run = Run()
    namespace, dsn = ctx.target()
    dbname = dsn.rsplit("/", 1)[1]
    pg.execute(dsn, "CREATE TABLE t (id int, email text)")
    pg.execute(dsn, "INSERT INTO t SELECT g, 'u' || (g % 500) FROM generate_series(1, 5000) g")
    start = ctx.postgres.log_size()
    with pglog.logging_everything(ctx.admin, dbname):
        return _fail_then_heal(ctx, run, namespace, dsn, dbname, start)


def _fail_then_heal(
    ctx: Context, run: Run, namespace: str, dsn: str, dbname: str, start: int
) -> Run:
    spec = {
        "connection": {"secretRef": {"name": "db"}},
        "table": "t",
        "unique": True,
        "columns": [{"column": "email"}],
        "retry": FAST_RETRY,
    }
    ctx.kube.create(namespace, "t-email", spec)
    status, _ = ctx.wait(
        namespace, "t-email", lambda s: s.get("phase") == "Failed", 120, "phase Failed"
    )
    sqlstate = (status.get("lastError") or {}).get("sqlstate")
    before = status.get("attempts") or 0
    window_from = ctx.postgres.log_size() - start
    time.sleep(ctx.hot_window)
    after = ctx.kube.status(namespace, "t-email").get("attempts") or 0
    seen = pglog.activity(ctx.postgres.log_since(start), dbname, APPLICATION, window_from)
    run.figures.update(
        sqlstate=sqlstate,
        window_s=ctx.hot_window,
        attempts_in_window=after - before,
        statements_in_window=seen.statements,
        ddl_in_window=seen.ddl,
        connections_in_window=seen.connections,
    )
    hot_loop = after != before or seen.ddl > 0
    pg.execute(dsn, "DELETE FROM t a USING t b WHERE a.email = b.email AND a.ctid > b.ctid")
    ctx.kube.patch(namespace, "t-email", {"metadata": {"annotations": {"dbindex.dev/retry": "1"}}})
    asked = time.monotonic()
    ready = ctx.wait_ready(namespace, "t-email")
    run.ok = sqlstate == "23505" and not hot_loop
    if not run.ok:
        run.error = f"sqlstate {sqlstate}, attempts {before}->{after}, DDL in window {seen.ddl}"
    run.recover_s = round(ready - asked, 3)
    run.invalid_left = invalid_indexes(dsn)
    run.duplicate_builds = max(0, indexes_on(dsn, "t") - 1)
    return run
