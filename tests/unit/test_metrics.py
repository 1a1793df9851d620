"""runtime/metrics.py: the per-object series the alert rules read, set from status snapshots.

prometheus_client's default registry is process-wide: each test uses its own namespace.
"""

from __future__ import annotations

import socket
import time
import urllib.request
import uuid
from typing import Any

import pytest
from prometheus_client import REGISTRY

from dbindex_operator.runtime import metrics, object_series


def value(metric: str, **labels: str) -> float | None:
    found = REGISTRY.get_sample_value(metric, labels)
    return object_series.REGISTRY.get_sample_value(metric, labels) if found is None else found


def status(phase: str | None, reason: str = "", **extra: Any) -> dict[str, Any]:
    if phase is None:
        return {}
    conditions = [{"type": "Ready", "status": str(phase == "Ready"), "reason": reason}]
    if "unused" in extra:
        conditions.append({"type": "Unused", "status": extra.pop("unused")})
    return {"phase": phase, "conditions": conditions, **extra}


def test_phase_series_follow_the_snapshot() -> None:
    ns = f"t-{uuid.uuid4().hex[:8]}"
    object_series.record_objects(
        [(ns, "a", status(None)), (ns, "b", status("Failed", "Dup"))], now=1
    )
    assert value("dbindex_object_phase", namespace=ns, name="a", phase="Pending", reason="") == 1
    assert value("dbindex_object_phase", namespace=ns, name="b", phase="Failed", reason="Dup") == 1
    object_series.record_objects([(ns, "a", status("Waiting", "ConnectionFailed"))], now=2)
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
        object_series.record_objects([(ns, "x", status(phase, progress=progress))], now=now)

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
    object_series.record_objects([(ns, "i", status("Ready", unused="True"))], now=1)
    assert value("dbindex_index_unused", namespace=ns, name="i") == 1
    object_series.record_objects([(ns, "i", status("Ready", unused="False"))], now=2)
    assert value("dbindex_index_unused", namespace=ns, name="i") == 0
    object_series.record_objects([(ns, "i", status("Ready"))], now=3)
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
    object_series.record_objects(statuses, now=1)
    read: list[object] = []
    real = object_series._derive
    monkeypatch.setattr(object_series, "_derive", lambda s: read.append(s) or real(s))
    object_series.record_objects(statuses, now=2)
    assert read == []
    changed = status("Failed", "Dup")
    object_series.record_objects([*statuses[1:], (ns, "o0", changed)], now=3)
    assert read == [changed]
    assert value("dbindex_object_phase", namespace=ns, name="o0", phase="Failed", reason="Dup") == 1


def test_health_series_follow_health_passes_and_go_with_the_object() -> None:
    ns = f"t-{uuid.uuid4().hex[:8]}"
    object_series.record_health(ns, "i", {"sizeBytes": 8192, "scans": 3, "bloatPercent": 25.0})
    assert value("dbindex_index_size_bytes", namespace=ns, name="i") == 8192
    assert value("dbindex_index_scans_total", namespace=ns, name="i") == 3
    assert value("dbindex_index_bloat_ratio", namespace=ns, name="i") == 0.25
    object_series.record_health(ns, "i", {"sizeBytes": 16384})  # no bloat estimate this time
    assert value("dbindex_index_size_bytes", namespace=ns, name="i") == 16384
    assert value("dbindex_index_bloat_ratio", namespace=ns, name="i") == 0.25
    object_series.record_health(ns, "j", {"scans": 0, "bloatPercent": None})
    assert value("dbindex_index_scans_total", namespace=ns, name="j") == 0
    assert value("dbindex_index_size_bytes", namespace=ns, name="j") is None
    metrics.forget_index(ns, "i")
    assert value("dbindex_index_size_bytes", namespace=ns, name="i") is None
    assert value("dbindex_index_scans_total", namespace=ns, name="j") == 0


def test_a_family_is_rendered_again_only_when_it_changed() -> None:
    """At 10,000 objects rendering the ~50,000 per-object samples costs 0.6-0.9 s of CPU: an
    idle fleet's scrape reuses the text (issue #15 section 4)."""
    ns = f"t-{uuid.uuid4().hex[:8]}"
    objects = [(ns, f"o{i}", status("Ready", "Adopted", unused="False")) for i in range(100)]
    object_series.record_objects(objects, now=1)
    for i in range(100):
        object_series.record_health(ns, f"o{i}", {"sizeBytes": i, "scans": i, "bloatPercent": 1})
    first = object_series.render().decode()
    assert first.count(f'namespace="{ns}"') == 500  # phase, unused, size, scans, bloat
    assert "# TYPE dbindex_object_phase gauge" in first

    rendered: list[object] = []
    real = object_series.generate_latest

    def counting(collector: Any) -> bytes:
        rendered.append(next(iter(collector.collect())).name)
        return real(collector)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(object_series, "generate_latest", counting)
        object_series.record_objects(objects, now=2)  # the same statuses
        object_series.record_health(ns, "o1", {"sizeBytes": 1, "scans": 1, "bloatPercent": 1})
        assert object_series.render().decode() == first
        assert rendered == []
        object_series.record_health(ns, "o1", {"scans": 7})
        second = object_series.render().decode()
    assert rendered == ["dbindex_index_scans_total"]
    assert f'dbindex_index_scans_total{{name="o1",namespace="{ns}"}} 7.0' in second


def test_the_page_is_the_registry_then_the_per_object_series() -> None:
    ns = f"t-{uuid.uuid4().hex[:8]}"
    object_series.record_objects([(ns, "a", status("Ready", "Adopted"))], now=1)
    metrics.STATUS_PATCHES.inc(0)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    metrics.serve("127.0.0.1", port)
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/metrics",
        # What Prometheus asks for: the page still comes as plain text, the format both share.
        headers={
            "Accept": "application/openmetrics-text;version=1.0.0,text/plain;q=0.5",
            "Accept-Encoding": "gzip",
        },
    )
    for _ in range(50):
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                body = answer.read()
                headers = answer.headers
            break
        except OSError:
            time.sleep(0.1)
    assert headers["Content-Type"].startswith("text/plain")
    assert int(headers["Content-Length"]) == len(body)
    text = body.decode()
    assert "# EOF" not in text
    assert text.index("dbindex_status_patches_total") < text.index("dbindex_object_phase")
    assert (
        f'dbindex_object_phase{{name="a",namespace="{ns}",phase="Ready",reason="Adopted"}} 1.0'
        in text
    )
