"""Prometheus metrics. Labels carry namespaces, reasons and SQLSTATE classes only: never a DSN,
a host name from a Secret, or any Secret value."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterable, Mapping
from typing import Any

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
_PER_OBJECT = (INDEX_SIZE, INDEX_SCANS, INDEX_BLOAT, INVALID_DROPPED)  # (namespace, name)


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
    for metric in _PER_OBJECT:
        with contextlib.suppress(KeyError):
            metric.remove(namespace, name)


def serve(address: str, port: int) -> None:
    """Start the endpoint in a daemon thread (prometheus_client's own server)."""
    start_http_server(port, addr=address)


# -- per-object series, for alerts that must name the object (monitoring/alerts.yaml) -----------
# One series per object: at 10,000 objects that is 10,000 series of dbindex_object_phase, plus
# one progress timestamp per running build. Refreshed from a snapshot of every known object
# (fleet.py, every 10 s), so no code path that changes a status has to remember them.

OBJECT_PHASE = Gauge(
    "dbindex_object_phase",
    "1 for each DatabaseIndex object, labelled with its status phase and the reason of its Ready "
    "condition (phase Pending, no reason: the operator has written no status yet)",
    ["namespace", "name", "phase", "reason"],
)
PROGRESS_CHANGED = Gauge(
    "dbindex_build_progress_changed_timestamp_seconds",
    "Unix time the progress of a running build (PostgreSQL's phase and counters) last changed",
    ["namespace", "name"],
)
INDEX_UNUSED = Gauge(
    "dbindex_index_unused",
    "1 while the object's Unused condition is True (no new index scans for DBINDEX_UNUSED_AFTER)",
    ["namespace", "name"],
)
_BUILDING_PHASES = frozenset({"Building", "Replacing"})
_VOLATILE_PROGRESS = frozenset({"updatedAt"})  # rewritten on every poll: not a change of work


_Derived = tuple[tuple[str, str], str | None, float | None]  # phase labels, progress, unused


class _ObjectSeries:
    """Remembers which per-object series exist, so a snapshot can remove those of objects that
    are gone or moved on, and when each running build's progress last changed."""

    def __init__(self) -> None:
        self.phases: dict[tuple[str, str], tuple[str, str]] = {}
        self.progress: dict[tuple[str, str], str] = {}
        self.unused: dict[tuple[str, str], float] = {}
        # What each object's status gave last time, by the status' identity: a status is a new
        # dict whenever it changes (StatusWriter.submit), so an idle fleet's snapshot reads
        # nothing of 10,000 statuses but this (issue #15 section 4: idle CPU).
        self._derived: dict[tuple[str, str], tuple[Mapping[str, Any], _Derived]] = {}

    def refresh(self, objects: Iterable[tuple[str, str, Mapping[str, Any]]], now: float) -> None:
        phases: dict[tuple[str, str], tuple[str, str]] = {}
        progress: dict[tuple[str, str], str] = {}
        unused: dict[tuple[str, str], float] = {}
        derived: dict[tuple[str, str], tuple[Mapping[str, Any], _Derived]] = {}
        for namespace, name, status in objects:
            key = (namespace, name)
            cached = self._derived.get(key)
            facts = cached[1] if cached is not None and cached[0] is status else _derive(status)
            derived[key] = (status, facts)
            phases[key], building, flag = facts
            if building is not None:
                progress[key] = building
            if flag is not None:
                unused[key] = flag
        # Only what changed is touched: a snapshot of 10,000 unchanged objects costs a dict walk.
        for key, labels in self.phases.items():
            if phases.get(key) != labels:
                with contextlib.suppress(KeyError):
                    OBJECT_PHASE.remove(*key, *labels)
        for key, labels in phases.items():
            if self.phases.get(key) != labels:
                OBJECT_PHASE.labels(*key, *labels).set(1.0)
        for key, flag_value in unused.items():
            if self.unused.get(key) != flag_value:
                INDEX_UNUSED.labels(*key).set(flag_value)
        for key in self.progress.keys() - progress.keys():
            with contextlib.suppress(KeyError):
                PROGRESS_CHANGED.remove(*key)
        for key, fingerprint in progress.items():
            if self.progress.get(key) != fingerprint:
                PROGRESS_CHANGED.labels(*key).set(now)
        for key in self.unused.keys() - unused.keys():
            with contextlib.suppress(KeyError):
                INDEX_UNUSED.remove(*key)
        self.phases, self.progress, self.unused = phases, progress, unused
        self._derived = derived


def _derive(status: Mapping[str, Any]) -> _Derived:
    phase = str(status.get("phase") or "Pending")
    conditions = _conditions(status)
    labels = (phase, str(conditions.get("Ready", {}).get("reason") or ""))
    building = _fingerprint(status.get("progress")) if phase in _BUILDING_PHASES else None
    flag = conditions.get("Unused", {}).get("status")
    return labels, building, (1.0 if flag == "True" else 0.0) if flag in ("True", "False") else None


def _conditions(status: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The status' conditions by type (isinstance of dict, not of Mapping: this runs for every
    object, and the ABC check is what cost most)."""
    return {
        found["type"]: found
        for found in status.get("conditions") or ()
        if isinstance(found, dict) and "type" in found
    }


def _fingerprint(progress: object) -> str:
    if not isinstance(progress, Mapping):
        return ""
    return json.dumps(
        {k: v for k, v in progress.items() if k not in _VOLATILE_PROGRESS}, sort_keys=True
    )


_OBJECT_SERIES = _ObjectSeries()


def record_objects(
    objects: Iterable[tuple[str, str, Mapping[str, Any]]], now: float | None = None
) -> None:
    """Set the per-object series from (namespace, name, status) of every known object; series of
    objects not in the snapshot are removed."""
    _OBJECT_SERIES.refresh(objects, time.time() if now is None else now)


def leftover_dropped(namespace: str, name: str) -> None:
    """An INVALID leftover of this object was dropped (per object: a hot loop shows as a rate)."""
    INVALID_DROPPED.labels(namespace, name).inc()
