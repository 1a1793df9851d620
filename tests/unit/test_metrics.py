"""runtime/metrics.py: the per-object series the alert rules read, set from status snapshots.

prometheus_client's default registry is process-wide: each test uses its own namespace.
"""

from __future__ import annotations

import uuid
from typing import Any

from prometheus_client import REGISTRY, generate_latest

from dbindex_operator.runtime import metrics


def value(metric: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(metric, labels)


def status(phase: str | None, reason: str = "", **extra: Any) -> dict[str, Any]:
    if phase is None:
        return {}
    conditions = [{"type": "Ready", "status": str(phase == "Ready"), "reason": reason}]
    if "unused" in extra:
        conditions.append({"type": "Unused", "status": extra.pop("unused")})
    return {"phase": phase, "conditions": conditions, **extra}


def test_phase_series_follow_the_snapshot() -> None:
    ns = f"t-{uuid.uuid4().hex[:8]}"
    metrics.record_objects([(ns, "a", status(None)), (ns, "b", status("Failed", "Dup"))], now=1)
    assert value("dbindex_object_phase", namespace=ns, name="a", phase="Pending", reason="") == 1
    assert value("dbindex_object_phase", namespace=ns, name="b", phase="Failed", reason="Dup") == 1
    metrics.record_objects([(ns, "a", status("Waiting", "ConnectionFailed"))], now=2)
    assert value("dbindex_object_phase", namespace=ns, name="a", phase="Pending", reason="") is None
    labels = {"namespace": ns, "name": "a", "phase": "Waiting", "reason": "ConnectionFailed"}
    assert value("dbindex_object_phase", **labels) == 1
    # b is gone from the snapshot: so is its series.
    assert (
        value("dbindex_object_phase", namespace=ns, name="b", phase="Failed", reason="Dup") is None
    )


def test_progress_timestamp_moves_only_when_the_work_moves() -> None:
    ns = f"t-{uuid.uuid4().hex[:8]}"
    name = "dbindex_build_progress_changed_timestamp_seconds"

    def snapshot(phase: str, blocks: int, updated: str, now: float) -> None:
        progress = {"phase": "building index", "blocksDone": blocks, "updatedAt": updated}
        metrics.record_objects([(ns, "x", status(phase, progress=progress))], now=now)

    snapshot("Building", 10, "t1", now=100)
    assert value(name, namespace=ns, name="x") == 100
    snapshot("Building", 10, "t2", now=200)  # only updatedAt changed: no progress
    assert value(name, namespace=ns, name="x") == 100
    snapshot("Building", 20, "t3", now=300)
    assert value(name, namespace=ns, name="x") == 300
    snapshot("Ready", 20, "t4", now=400)  # not building: no series
    assert value(name, namespace=ns, name="x") is None
    snapshot("Replacing", 20, "t5", now=500)  # a new build starts counting from now
    assert value(name, namespace=ns, name="x") == 500


def test_unused_gauge_follows_the_condition() -> None:
    ns = f"t-{uuid.uuid4().hex[:8]}"
    metrics.record_objects([(ns, "i", status("Ready", unused="True"))], now=1)
    assert value("dbindex_index_unused", namespace=ns, name="i") == 1
    metrics.record_objects([(ns, "i", status("Ready", unused="False"))], now=2)
    assert value("dbindex_index_unused", namespace=ns, name="i") == 0
    metrics.record_objects([(ns, "i", status("Ready"))], now=3)
    assert value("dbindex_index_unused", namespace=ns, name="i") is None


def test_leftover_drops_are_counted_per_object_and_forgotten_with_it() -> None:
    ns = f"t-{uuid.uuid4().hex[:8]}"
    metrics.leftover_dropped(ns, "a")
    metrics.leftover_dropped(ns, "a")
    assert value("dbindex_invalid_indexes_dropped_total", namespace=ns, name="a") == 2
    metrics.forget_index(ns, "a")
    assert value("dbindex_invalid_indexes_dropped_total", namespace=ns, name="a") is None


def test_an_unchanged_status_is_not_read_again(monkeypatch: Any) -> None:
    """Idle CPU (issue #15 section 4): a snapshot of statuses that did not change (the same
    dicts: StatusWriter replaces a status whenever it changes) reads none of them again."""
    ns = f"t-{uuid.uuid4().hex[:8]}"
    statuses = [(ns, f"o{i}", status("Ready", "Adopted")) for i in range(50)]
    metrics.record_objects(statuses, now=1)
    read: list[object] = []
    real = metrics._derive
    monkeypatch.setattr(metrics, "_derive", lambda s: read.append(s) or real(s))
    metrics.record_objects(statuses, now=2)
    assert read == []
    changed = status("Failed", "Dup")
    metrics.record_objects([*statuses[1:], (ns, "o0", changed)], now=3)
    assert read == [changed]
    assert value("dbindex_object_phase", namespace=ns, name="o0", phase="Failed", reason="Dup") == 1


def test_health_series_follow_health_passes_and_go_with_the_object() -> None:
    ns = f"t-{uuid.uuid4().hex[:8]}"
    metrics.record_health(ns, "i", {"sizeBytes": 8192, "scans": 3, "bloatPercent": 25.0})
    assert value("dbindex_index_size_bytes", namespace=ns, name="i") == 8192
    assert value("dbindex_index_scans_total", namespace=ns, name="i") == 3
    assert value("dbindex_index_bloat_ratio", namespace=ns, name="i") == 0.25
    metrics.record_health(ns, "i", {"sizeBytes": 16384})  # no bloat estimate this time
    assert value("dbindex_index_size_bytes", namespace=ns, name="i") == 16384
    assert value("dbindex_index_bloat_ratio", namespace=ns, name="i") == 0.25
    metrics.record_health(ns, "j", {"scans": 0, "bloatPercent": None})
    assert value("dbindex_index_scans_total", namespace=ns, name="j") == 0
    assert value("dbindex_index_size_bytes", namespace=ns, name="j") is None
    metrics.forget_index(ns, "i")
    assert value("dbindex_index_size_bytes", namespace=ns, name="i") is None
    assert value("dbindex_index_scans_total", namespace=ns, name="j") == 0


def test_per_object_series_are_plain_values_not_client_children() -> None:
    """A prometheus_client child per series held ~0.8 KB and two locks: 10,000 objects cost
    ~38 MB and a ~0.8 s scrape (issue #21 item 1). The series are rendered at scrape time."""
    ns = f"t-{uuid.uuid4().hex[:8]}"
    objects = [(ns, f"o{i}", status("Ready", "Adopted", unused="False")) for i in range(100)]
    metrics.record_objects(objects, now=1)
    for i in range(100):
        metrics.record_health(ns, f"o{i}", {"sizeBytes": i, "scans": i, "bloatPercent": 1.0})
    text = generate_latest(REGISTRY).decode()
    assert text.count(f'namespace="{ns}"') == 500  # phase, unused, size, scans, bloat
    assert "# TYPE dbindex_object_phase gauge" in text
    for name in ("dbindex_object_phase", "dbindex_index_size_bytes", "dbindex_index_unused"):
        collector = REGISTRY._names_to_collectors[name]
        assert not hasattr(collector, "_metrics"), name  # not a labelled client metric
