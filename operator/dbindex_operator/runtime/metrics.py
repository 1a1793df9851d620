"""Prometheus metrics. Labels carry namespaces, reasons and SQLSTATE classes only: never a DSN,
a host name from a Secret, or any Secret value."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

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


def record_health(namespace: str, name: str, health: Mapping[str, object]) -> None:
    """The index's size, scans and bloat from a health pass (kept by _PerObjectSeries)."""
    size, scans, bloat = _PER_OBJECT.health.get((namespace, name), (None, None, None))

    def number(key: str, old: float | None, scale: float = 1.0) -> float | None:
        value = health.get(key)  # a missing figure keeps the last one
        return float(value) * scale if isinstance(value, (int, float)) else old

    _PER_OBJECT.health[(namespace, name)] = (
        number("sizeBytes", size),
        number("scans", scans),
        number("bloatPercent", bloat, 0.01),
    )


def forget_index(namespace: str, name: str) -> None:
    """The object is gone: so are its series."""
    _PER_OBJECT.health.pop((namespace, name), None)
    with contextlib.suppress(KeyError):
        INVALID_DROPPED.remove(namespace, name)


def serve(address: str, port: int) -> None:
    """Start the endpoint in a daemon thread (prometheus_client's own server)."""
    start_http_server(port, addr=address)


# -- per-object series, for alerts that must name the object (monitoring/alerts.yaml) -----------
# At 10,000 objects: 10,000 series of dbindex_object_phase, as many of each health series, plus
# one progress timestamp per running build.

_BUILDING_PHASES = frozenset({"Building", "Replacing"})
_VOLATILE_PROGRESS = frozenset({"updatedAt"})  # rewritten on every poll: not a change of work


_Derived = tuple[tuple[str, str], str | None, float | None]  # phase labels, progress, unused


_Key = tuple[str, str]  # namespace, name
# (help, label names) of the per-object series (monitoring/alerts.yaml reads them by name).
_HELP: Final = {
    "dbindex_object_phase": (
        "1 for each DatabaseIndex object, labelled with its status phase and the reason of its "
        "Ready condition (phase Pending, no reason: the operator has written no status yet)",
        ["namespace", "name", "phase", "reason"],
    ),
    "dbindex_build_progress_changed_timestamp_seconds": (
        "Unix time the progress of a running build (PostgreSQL's phase and counters) last changed",
        ["namespace", "name"],
    ),
    "dbindex_index_unused": (
        "1 while the object's Unused condition is True (no new index scans for "
        "DBINDEX_UNUSED_AFTER)",
        ["namespace", "name"],
    ),
    "dbindex_index_size_bytes": (
        "Size of each object's index (pg_relation_size)",
        ["namespace", "name"],
    ),
    "dbindex_index_scans_total": (
        "Index scans of each object's index since the statistics were reset (idx_scan)",
        ["namespace", "name"],
    ),
    "dbindex_index_bloat_ratio": (
        "Estimated bloat of each object's btree index, 0..1 (docs: core/health.py)",
        ["namespace", "name"],
    ),
}


class _PerObjectSeries(Collector):
    """The per-object series, for alerts that must name the object: kept as plain values and
    turned into samples only when scraped. A prometheus_client child per series (a Gauge object
    with two locks) cost about 0.8 KB: at 10,000 objects their five series per object held
    ~38 MB and made a scrape cost ~0.8 s of CPU (issue #15 section 4, #21 item 1).

    Phases, progress and the Unused flag come from a snapshot of every known object (fleet.py,
    every 10 s), so no code path that changes a status has to remember them; size, scans and
    bloat from each health pass. The scrape runs in the HTTP server's thread: it copies each
    dict (atomic under the GIL) before reading it."""

    def __init__(self) -> None:
        self.phases: dict[_Key, tuple[str, str]] = {}
        self.progress: dict[_Key, tuple[str, float]] = {}  # fingerprint, when it last changed
        self.unused: dict[_Key, float] = {}
        self.health: dict[_Key, tuple[float | None, float | None, float | None]] = {}
        # What each object's status gave last time, by the status' identity: a status is a new
        # dict whenever it changes (StatusWriter.submit), so an idle fleet's snapshot reads
        # nothing of 10,000 statuses but this (issue #15 section 4: idle CPU).
        self._derived: dict[_Key, tuple[Mapping[str, Any], _Derived]] = {}

    def refresh(self, objects: Iterable[tuple[str, str, Mapping[str, Any]]], now: float) -> None:
        phases: dict[_Key, tuple[str, str]] = {}
        progress: dict[_Key, tuple[str, float]] = {}
        unused: dict[_Key, float] = {}
        derived: dict[_Key, tuple[Mapping[str, Any], _Derived]] = {}
        for namespace, name, status in objects:
            key = (namespace, name)
            cached = self._derived.get(key)
            facts = cached[1] if cached is not None and cached[0] is status else _derive(status)
            derived[key] = (status, facts)
            phases[key], building, flag = facts
            if building is not None:
                known = self.progress.get(key)
                progress[key] = known if known and known[0] == building else (building, now)
            if flag is not None:
                unused[key] = flag
        self.phases, self.progress, self.unused, self._derived = phases, progress, unused, derived

    def collect(self) -> Iterator[GaugeMetricFamily]:
        def family(name: str) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, _HELP[name][0], labels=_HELP[name][1])

        phase = family("dbindex_object_phase")
        for key, labels in self.phases.copy().items():
            phase.add_metric([*key, *labels], 1.0)
        changed = family("dbindex_build_progress_changed_timestamp_seconds")
        for key, (_, at) in self.progress.copy().items():
            changed.add_metric(list(key), at)
        unused = family("dbindex_index_unused")
        for key, flag in self.unused.copy().items():
            unused.add_metric(list(key), flag)
        health = [family(n) for n in ("dbindex_index_size_bytes", "dbindex_index_scans_total")]
        health.append(family("dbindex_index_bloat_ratio"))
        for key, values in self.health.copy().items():
            for series, value in zip(health, values, strict=True):
                if value is not None:
                    series.add_metric(list(key), value)
        yield from (phase, changed, unused, *health)


_PER_OBJECT = _PerObjectSeries()
REGISTRY.register(_PER_OBJECT)


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


def record_objects(
    objects: Iterable[tuple[str, str, Mapping[str, Any]]], now: float | None = None
) -> None:
    """Set the per-object series from (namespace, name, status) of every known object; series of
    objects not in the snapshot are removed."""
    _PER_OBJECT.refresh(objects, time.time() if now is None else now)


def leftover_dropped(namespace: str, name: str) -> None:
    """An INVALID leftover of this object was dropped (per object: a hot loop shows as a rate)."""
    INVALID_DROPPED.labels(namespace, name).inc()
