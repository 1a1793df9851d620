"""The per-object metric series, for alerts that must name the object (monitoring/alerts.yaml):
each object's phase, its running build's last progress, its Unused flag, its index's size, scans
and bloat. At 10,000 objects that is about 50,000 series.

prometheus_client's own way (a labelled child per series, each a Gauge object with two locks)
held ~38 MB at 10,000 objects, and rendering 50,000 samples costs 0.6-0.9 s of CPU per scrape:
a Prometheus scraping every 15 s would have kept an idle operator 4-6 % busy (issue #15 section
4, #21 item 1). Here the values are plain dicts, and each family's text is rendered (by
prometheus_client) only when one of its values changed since the last scrape; an idle fleet's
scrape copies bytes. runtime/metrics.py appends the text to its page.

Phases, progress and the Unused flag come from a snapshot of every known object (fleet.py, every
10 s), so no code path that changes a status has to remember them; size, scans and bloat from
each health pass. Scrapes run in the HTTP server's threads: they read a family's version before
copying its dict, so a change that lands meanwhile is rendered at the next scrape.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

Key = tuple[str, str]  # namespace, name
PHASE: Final = "dbindex_object_phase"
PROGRESS: Final = "dbindex_build_progress_changed_timestamp_seconds"
UNUSED: Final = "dbindex_index_unused"
SIZE: Final = "dbindex_index_size_bytes"
SCANS: Final = "dbindex_index_scans_total"
BLOAT: Final = "dbindex_index_bloat_ratio"
_OBJECT = ["namespace", "name"]
_HELP: Final = {
    PHASE: (
        "1 for each DatabaseIndex object, labelled with its status phase and the reason of its "
        "Ready condition (phase Pending, no reason: the operator has written no status yet)",
        [*_OBJECT, "phase", "reason"],
    ),
    PROGRESS: (
        "Unix time the progress of a running build (PostgreSQL's phase and counters) last changed",
        _OBJECT,
    ),
    UNUSED: (
        "1 while the object's Unused condition is True (no new index scans for "
        "DBINDEX_UNUSED_AFTER)",
        _OBJECT,
    ),
    SIZE: ("Size of each object's index (pg_relation_size)", _OBJECT),
    SCANS: (
        "Index scans of each object's index since the statistics were reset (idx_scan)",
        _OBJECT,
    ),
    BLOAT: ("Estimated bloat of each object's btree index, 0..1 (docs: core/health.py)", _OBJECT),
}
_HEALTH: Final = (SIZE, SCANS, BLOAT)  # the order of Series.health's values
_BUILDING_PHASES = frozenset({"Building", "Replacing"})
_VOLATILE_PROGRESS = frozenset({"updatedAt"})  # rewritten on every poll: not a change of work
_Derived = tuple[tuple[str, str], str | None, float | None]  # phase labels, progress, unused


class Series(Collector):
    def __init__(self) -> None:
        self.phases: dict[Key, tuple[str, str]] = {}
        self.progress: dict[Key, tuple[str, float]] = {}  # fingerprint, when it last changed
        self.unused: dict[Key, float] = {}
        self.health: dict[Key, tuple[float | None, ...]] = {}  # size, scans, bloat
        self.versions = dict.fromkeys(_HELP, 0)  # bumped after each change of a family
        self._text: dict[str, tuple[int, bytes]] = {}  # family -> (version, rendered text)
        # What each object's status gave last time, by the status' identity: a status is a new
        # dict whenever it changes (StatusWriter.submit), so an idle fleet's snapshot reads
        # nothing of 10,000 statuses but this (issue #15 section 4: idle CPU).
        self._derived: dict[Key, tuple[Mapping[str, Any], _Derived]] = {}

    def refresh(self, objects: Iterable[tuple[str, str, Mapping[str, Any]]], now: float) -> None:
        phases: dict[Key, tuple[str, str]] = {}
        progress: dict[Key, tuple[str, float]] = {}
        unused: dict[Key, float] = {}
        derived: dict[Key, tuple[Mapping[str, Any], _Derived]] = {}
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
        self._derived = derived
        if phases != self.phases:
            self.phases = phases
            self.versions[PHASE] += 1
        if progress != self.progress:
            self.progress = progress
            self.versions[PROGRESS] += 1
        if unused != self.unused:
            self.unused = unused
            self.versions[UNUSED] += 1

    def set_health(self, key: Key, values: tuple[float | None, ...]) -> None:
        old = self.health.get(key, (None, None, None))
        if values == old:
            return
        self.health[key] = values
        for family, before, after in zip(_HEALTH, old, values, strict=True):
            if before != after:
                self.versions[family] += 1

    def forget(self, key: Key) -> None:
        if self.health.pop(key, None) is not None:
            for family in _HEALTH:
                self.versions[family] += 1

    def collect(self) -> Iterator[GaugeMetricFamily]:
        for name in _HELP:
            yield self._family(name)

    def render(self) -> bytes:
        """The text of every family, each rendered again only if it changed."""
        parts = []
        for name in _HELP:
            version = self.versions[name]  # before reading the values: see the module's doc
            cached = self._text.get(name)
            if cached is None or cached[0] != version:
                cached = (version, generate_latest(_One(self._family(name))))
                self._text[name] = cached
            parts.append(cached[1])
        return b"".join(parts)

    def _family(self, name: str) -> GaugeMetricFamily:
        family = GaugeMetricFamily(name, _HELP[name][0], labels=_HELP[name][1])
        if name == PHASE:
            for key, labels in self.phases.copy().items():
                family.add_metric([*key, *labels], 1.0)
        elif name == PROGRESS:
            for key, (_, at) in self.progress.copy().items():
                family.add_metric(list(key), at)
        elif name == UNUSED:
            for key, flag in self.unused.copy().items():
                family.add_metric(list(key), flag)
        else:
            position = _HEALTH.index(name)
            for key, values in self.health.copy().items():
                value = values[position]
                if value is not None:
                    family.add_metric(list(key), value)
        return family


class _One(Collector):
    def __init__(self, family: GaugeMetricFamily) -> None:
        self.family = family

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield self.family


_SERIES = Series()
REGISTRY = CollectorRegistry(auto_describe=False)  # for reading samples (tests), not served
REGISTRY.register(_SERIES)


def record_objects(
    objects: Iterable[tuple[str, str, Mapping[str, Any]]], now: float | None = None
) -> None:
    """Set the phase, progress and Unused series from (namespace, name, status) of every known
    object; series of objects not in the snapshot are removed."""
    _SERIES.refresh(objects, time.time() if now is None else now)


def record_health(namespace: str, name: str, health: Mapping[str, object]) -> None:
    """The index's size, scans and bloat from a health pass; a missing figure keeps the last."""
    old = _SERIES.health.get((namespace, name), (None, None, None))
    values = []
    fields = (("sizeBytes", 1.0), ("scans", 1.0), ("bloatPercent", 0.01))
    for (field, scale), before in zip(fields, old, strict=True):
        value = health.get(field)
        values.append(float(value) * scale if isinstance(value, (int, float)) else before)
    _SERIES.set_health((namespace, name), tuple(values))


def forget(namespace: str, name: str) -> None:
    _SERIES.forget((namespace, name))


def render() -> bytes:
    return _SERIES.render()


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
