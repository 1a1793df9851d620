"""The guard every DDL session runs first: our finalizer on the object (runtime/holding.py),
the index's advisory lock, then the catalog re-read under it (core/locks.py says why and what is
compared).

executors/base.launch makes one Guard per piece of work and sets it in db.GUARD for the work's
task only; db.session runs it on each session it opens, right after connecting. So every
action that runs DDL through db.session (build, replacement, swap, drops, partition steps,
REINDEX, ...) is covered without code of its own, and the lock belongs to the session that runs
the statement: held for the statement's life, released by the server when that session ends.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from dbindex_operator.core import catalog, errors, locks
from dbindex_operator.runtime import db

# With peering: why this replica is not the active one right now, or None (set at start-up by
# runtime/handlers.py; None: standalone). Asked before each work's first DDL: a replica Kopf
# paused keeps the objects it knew, and must not start new DDL on them. An unreadable peering
# object counts as "not leading": no DDL without a confirmed lease. The lock is still taken
# after it: the lease can be stale.
lease: Callable[[], Awaitable[str | None]] | None = None


class _Single:
    """One connection where db's catalog readers expect a pool: the re-read must run on the
    DDL's own session, under its lock."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def fetch(self, query: str, *args: Any) -> list[Any]:
        rows: list[Any] = await self.conn.fetch(query, *args)
        return rows

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[Any]:
        yield self.conn


class Guard:
    """The lock and re-check of one piece of work, run on each of its sessions.

    The first session takes the lock and compares the catalog with `decided` (the state the plan
    was made from): on a held lock or changed facts it raises locks.Abstained and runs nothing.
    Later sessions of the same work (the drop of a failed build's leftover) only take the lock;
    if someone else holds it by then, that step fails as a retryable BuildFailure."""

    def __init__(
        self,
        params: db.ConnectParams,
        target: tuple[str, str, str],
        decided: catalog.IndexState | None,
    ) -> None:
        self.params = params
        self.target = target  # schema, table, index: the object's declared index
        self.key = locks.key(target[0], target[2])
        self.decided = decided
        self.checked = False
        # Our finalizer going on, started with the work so that it overlaps the connection
        # (executors/base.launch); False: the object is being deleted without it. None: the
        # work needs none (a deletion's cleanup: the object holds it already).
        self.held: asyncio.Future[bool] | None = None

    async def __call__(self, conn: Any) -> None:
        if self.held is not None and not await self.held:
            raise locks.Abstained("the object is being deleted", quiet=True)
        if lease is not None and not self.checked:
            problem = await lease()
            if problem is not None:
                raise locks.Abstained(problem, quiet=True)
        try:
            if not await conn.fetchval(locks.TRY_LOCK, self.key):
                holder = await conn.fetchval(locks.LOCK_HOLDER, *locks.halves(self.key))
                reason = (
                    f"another session (PID {holder}) holds the lock of "
                    f"{self.target[0]}.{self.target[2]}"
                )
                if self.checked:
                    raise errors.BuildFailure(None, reason)
                raise locks.Abstained(reason)
            if self.checked or self.decided is None:
                return
            self.checked = True
            [now] = await db.fetch_states(_Single(conn), [self.target], self.params)
        except errors.ConnectionProblem as exc:
            raise errors.BuildFailure(None, exc.message) from None
        change = locks.changed(self.decided, now)
        if change is not None:
            raise locks.Abstained(f"the catalog changed since the decision: {change}")
