"""DatabaseLink: a scheduler's way to its database. It reads the Secret (at most every couple of
seconds in a burst of passes), and holds the shared pool of the database the Secret names,
swapping it when a rotated Secret points elsewhere."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from dbindex_operator.core import spec as specs
from dbindex_operator.runtime import db

logger = logging.getLogger(__name__)
SECRET_REUSE = 2.0  # seconds a Secret read is reused by the passes that follow it


class Resolver(Protocol):
    pools: db.Pools

    async def resolve(
        self, namespace: str, ref: specs.ConnectionRef, *, deleting: bool
    ) -> db.ConnectParams: ...


class DatabaseLink:
    def __init__(self, resolver: Resolver, namespace: str, ref: specs.ConnectionRef) -> None:
        self._resolver = resolver
        self.namespace = namespace
        self.ref = ref
        self.params: db.ConnectParams | None = None
        self.pool: Any = None
        self._resolved_at = -1e9

    async def connect(self, *, fresh: bool, deleting: bool) -> tuple[db.ConnectParams, Any]:
        """The current parameters and pool. `fresh` reads the Secret even if it was just read
        (after a failure, or when a deletion must act on what the Secret says now)."""
        now = asyncio.get_running_loop().time()
        recent = now - self._resolved_at < SECRET_REUSE
        if self.params is None or self.pool is None or fresh or not recent:
            params = await self._resolver.resolve(self.namespace, self.ref, deleting=deleting)
            self._resolved_at = asyncio.get_running_loop().time()
            if params != self.params or self.pool is None:
                old = self.params if self.pool is not None else None
                self.pool = await self._resolver.pools.acquire(params)
                self.params = params
                if old is not None:
                    await self._resolver.pools.release(old)
                logger.info(
                    "connected to %s for %s/%s",
                    params.describe(),
                    self.namespace,
                    self.ref.secret_name,
                )
        assert self.params is not None
        return self.params, self.pool

    async def close(self) -> None:
        if self.pool is not None and self.params is not None:
            self.pool = None
            await self._resolver.pools.release(self.params)
