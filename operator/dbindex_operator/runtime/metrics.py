"""Prometheus metrics. Labels carry namespaces, reasons and SQLSTATE classes only: never a DSN,
a host name from a Secret, or any Secret value."""

from __future__ import annotations

import contextlib

from prometheus_client import Counter, Gauge, Histogram, start_http_server

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
    "INVALID leftovers removed with DROP INDEX CONCURRENTLY",
    ["namespace"],
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
OBJECTS = Gauge("dbindex_objects", "DatabaseIndex objects known, by status phase", ["phase"])


INDEX_SIZE = Gauge(
    "dbindex_index_size_bytes",
    "Size of each object's index (pg_relation_size)",
    ["namespace", "name"],
)
INDEX_SCANS = Gauge(
    "dbindex_index_scans_total",
    "Index scans of each object's index since the statistics were reset (idx_scan)",
    ["namespace", "name"],
)
INDEX_BLOAT = Gauge(
    "dbindex_index_bloat_ratio",
    "Estimated bloat of each object's btree index, 0..1 (docs: core/health.py)",
    ["namespace", "name"],
)
_INDEX_GAUGES = (INDEX_SIZE, INDEX_SCANS, INDEX_BLOAT)


def record_health(namespace: str, name: str, health: dict[str, object]) -> None:
    for gauge, key, scale in (
        (INDEX_SIZE, "sizeBytes", 1.0),
        (INDEX_SCANS, "scans", 1.0),
        (INDEX_BLOAT, "bloatPercent", 0.01),
    ):
        value = health.get(key)
        if isinstance(value, (int, float)):
            gauge.labels(namespace, name).set(float(value) * scale)


def forget_index(namespace: str, name: str) -> None:
    """The object is gone: so are its series."""
    for gauge in _INDEX_GAUGES:
        with contextlib.suppress(KeyError):
            gauge.remove(namespace, name)


def serve(address: str, port: int) -> None:
    """Start the endpoint in a daemon thread (prometheus_client's own server)."""
    start_http_server(port, addr=address)
