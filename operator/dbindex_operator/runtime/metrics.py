"""Prometheus metrics. Labels carry namespaces, reasons and SQLSTATE classes only: never a DSN,
a host name from a Secret, or any Secret value."""

from __future__ import annotations

import contextlib
import socket
import threading
import wsgiref.simple_server
from typing import Any

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

from dbindex_operator.runtime import object_series

BUILDS_STARTED = Counter(
    "dbindex_builds_started_total", "CREATE INDEX CONCURRENTLY statements started", ["namespace"]
)
BUILDS_SUCCEEDED = Counter(
    "dbindex_builds_succeeded_total", "Builds that ended with a valid index", ["namespace"]
)
BUILDS_FAILED = Counter(
    "dbindex_builds_failed_total",
    "Builds that ended without a valid index, by SQLSTATE class (e.g. 57 = cancel/terminate, "
    "55 = lock timeout, 23 = duplicates; 'none' = connection lost)",
    ["namespace", "sqlstate_class"],
)
BUILD_DURATION = Histogram(
    "dbindex_build_duration_seconds",
    "Wall time of successful builds",
    ["namespace"],
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600),
)
BUILDS_IN_PROGRESS = Gauge("dbindex_builds_in_progress", "Builds running now", ["namespace"])
RETRIES = Counter(
    "dbindex_retries_total", "Build attempts scheduled after a retryable failure", ["namespace"]
)
INVALID_DROPPED = Counter(
    "dbindex_invalid_indexes_dropped_total",
    "INVALID leftovers removed with DROP INDEX CONCURRENTLY, per object",
    ["namespace", "name"],
)
INDEXES_DROPPED = Counter(
    "dbindex_indexes_dropped_total",
    "Indexes dropped because their object was deleted with deletionPolicy: Delete",
    ["namespace"],
)
STATUS_PATCHES = Counter("dbindex_status_patches_total", "Status patches sent to the API server")
CATALOG_QUERIES = Counter(
    "dbindex_catalog_queries_total",
    "Catalog queries sent to PostgreSQL (state, progress, definition probes)",
    ["query"],
)
DECISIONS = Counter(
    "dbindex_decisions_total",
    "Objects a database worker's pass decided (plan.decide); one at rest whose inputs did not "
    "change since its last decision is not decided again",
)
OBJECTS = Gauge("dbindex_objects", "DatabaseIndex objects known, by status phase", ["phase"])


def forget_index(namespace: str, name: str) -> None:
    """The object is gone: so are its series."""
    object_series.forget(namespace, name)
    with contextlib.suppress(KeyError):
        INVALID_DROPPED.remove(namespace, name)


def serve(address: str, port: int) -> None:
    """Start the endpoint in a daemon thread: prometheus_client's page, then the per-object
    series (runtime/object_series.py keeps them rendered while they do not change)."""
    family, *_, sockaddr = socket.getaddrinfo(
        address, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]

    class Server(ThreadingWSGIServer):
        address_family = family

    server = wsgiref.simple_server.make_server(
        str(sockaddr[0]), port, _page, Server, handler_class=_Quiet
    )
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()


_REGISTRY_PAGE = make_wsgi_app(REGISTRY)


def _page(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    # The text format (not OpenMetrics, not gzip) so that the per-object text can follow it.
    plain = {**environ, "HTTP_ACCEPT": "text/plain", "HTTP_ACCEPT_ENCODING": ""}
    answer: list[Any] = []
    body = b"".join(_REGISTRY_PAGE(plain, lambda *args: answer.extend(args)))
    status, headers = answer[0], answer[1]
    if status.startswith("200"):
        body += object_series.render()
    headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
    start_response(status, [*headers, ("Content-Length", str(len(body)))])
    return [body]


class _Quiet(wsgiref.simple_server.WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes are not logged."""


def leftover_dropped(namespace: str, name: str) -> None:
    """An INVALID leftover of this object was dropped (per object: a hot loop shows as a rate)."""
    INVALID_DROPPED.labels(namespace, name).inc()
