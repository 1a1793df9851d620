"""A fault-injecting proxy in front of the local kube-apiserver.

It forwards every request (watches streamed as they come) and, for a chosen share of the
patches that write our finalizer into a DatabaseIndex (whoever sends them: Kopf's
resourceVersion-guarded JSON patch, or the operator's own), lets the write reach the API server
and then answers the client 504 "Timeout: request did not complete within requested
timeout", the reply the API server itself gives when a write outlives its request timeout but
still lands in etcd. This is the fault behind objects stranded with a finalizer and no status
(issue #21 item 3, docs/reliability.md "Fault suite"); making it on purpose turns a rare burst
accident into a repeatable test.

The operator reaches it through a kubeconfig with a plain-HTTP server and no credentials; the
proxy talks to the API server with the admin client certificate of the environment.
"""

from __future__ import annotations

import asyncio
import random
import ssl
import threading
from collections.abc import Mapping
from pathlib import Path

import aiohttp
from aiohttp import web

FINALIZER = b'"dbindex.dev/finalizer"'
TIMEOUT_BODY = (
    b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
    b'"message":"Timeout: request did not complete within requested timeout - '
    b'context deadline exceeded","reason":"Timeout","details":{},"code":504}'
)
_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"}


class ApiProxy:
    """Runs in its own thread and event loop; ``start()`` returns its URL."""

    def __init__(self, env: Mapping[str, str], *, share: float = 0.0, seed: int = 0) -> None:
        self.upstream = env["DBINDEX_APISERVER_URL"].rstrip("/")
        self.tls = ssl.create_default_context(cafile=env["DBINDEX_CA_CERT"])
        self.tls.load_cert_chain(env["DBINDEX_ADMIN_CERT"], env["DBINDEX_ADMIN_KEY"])
        self.share = share
        self.random = random.Random(seed)
        self.injected: list[str] = []  # the object paths answered 504 after their write landed
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> str:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(30)
        return self.url

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def kubeconfig(self, path: Path) -> Path:
        """Write a kubeconfig that points at the proxy; return its path."""
        path.write_text(
            "apiVersion: v1\nkind: Config\n"
            f"clusters:\n- name: proxy\n  cluster:\n    server: {self.url}\n"
            "users:\n- name: anonymous\n  user: {}\n"
            "contexts:\n- name: proxy\n  context:\n    cluster: proxy\n    user: anonymous\n"
            "current-context: proxy\n"
        )
        return path

    async def _start(self) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=self.tls, limit=0),
            timeout=aiohttp.ClientTimeout(total=None),
            auto_decompress=False,
        )
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None and server.sockets
        self.port = server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        # Upstream first: that ends the open watch streams, so the server stops at once.
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()
        current = asyncio.current_task()
        for task in asyncio.all_tasks():
            if task is not current:
                task.cancel()

    def _chosen(self, request: web.Request, body: bytes) -> bool:
        return (
            self.share > 0
            and request.method == "PATCH"
            and FINALIZER in body
            and "/databaseindexes/" in request.path
            and not request.path.endswith("/status")
            and self.random.random() < self.share
        )

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP | {"host"}}
        inject = self._chosen(request, body)
        async with self._session.request(
            request.method,
            self.upstream + request.path_qs,
            data=body or None,
            headers=headers,
            # The kubernetes client may send a JSON body without a Content-Type, which the API
            # server accepts; aiohttp would add application/octet-stream, which it refuses (415).
            skip_auto_headers=("Content-Type",),
        ) as upstream:
            if inject and upstream.status < 300:
                await upstream.read()  # the write is done; the client never learns it
                self.injected.append(request.path)
                return web.Response(status=504, body=TIMEOUT_BODY, content_type="application/json")
            response = web.StreamResponse(status=upstream.status)
            for key, value in upstream.headers.items():
                if key.lower() not in _HOP:
                    response.headers[key] = value
            await response.prepare(request)
            try:
                async for chunk in upstream.content.iter_any():
                    await response.write(chunk)
                await response.write_eof()
            except (ConnectionResetError, aiohttp.ClientError):
                pass  # the client or the server hung up a watch: end this stream too
            return response
