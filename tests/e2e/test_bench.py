"""One small run of the benchmarks (bench/) against the test environment: p1, p2 and p4 at a
tiny size. It asserts only that they complete and write a well-formed result, never a timing (the
bench's arithmetic and JSON shape are unit-tested in tests/unit/test_bench.py)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from bench import report, runner, scenarios


def test_small_run_of_p1_p2_and_p4_writes_a_well_formed_result(
    local_env: dict[str, str], tmp_path: Path
) -> None:
    """Completes and writes a well-formed result. Timings on a shared test machine mean
    nothing, so none is asserted."""
    sizes = dataclasses.replace(
        scenarios.Sizes.for_scale(0.1),
        p1_rows=20_000,
        p2_rows=20_000,
        p4_objects=500,
        idle_seconds=5,
    )
    results_dir = tmp_path / "results"
    doc, paths = runner.run(
        ["p1", "p2", "p4"],
        scale=0.1,
        environ=local_env,
        results_dir=results_dir,
        # Only our own namespaces: the suite's other operator and objects must not be touched.
        operator_namespaces=["bench-*"],
        sizes=sizes,
        command="pytest",
    )
    assert report.validate(doc) == []
    assert set(doc["scenarios"]) == {"p1", "p2", "p4"}
    for sid, scenario in doc["scenarios"].items():
        assert scenario["error"] is None, f"{sid}: {scenario['error']}"
        assert scenario["checks"], sid
        assert all(isinstance(c["value"], (int, float)) for c in scenario["checks"]), scenario
    p1 = doc["scenarios"]["p1"]
    assert p1["ratio"] > 0
    assert [c["name"] for c in p1["checks"]] == ["operator/psql", "operator/limit"]
    assert p1["checks"][1]["against"].startswith("limit ")
    figures = p1["figures"]
    assert figures["limit_s"] > 0 and figures["operator_over_limit"] > 0
    # two tables at a time: the limit script never ran more than two builds at once
    builds = figures["limit_runs"][0]["builds"]
    assert len(builds) == 12
    assert all(sum(b["start_s"] <= m["start_s"] < b["end_s"] for b in builds) <= 2 for m in builds)
    run = figures["operator_runs"][0]
    assert len(run["build_start_order"]) == 12
    assert run["last_build_end_to_ready_s"] is not None
    assert set(figures["study"]) >= {
        "limit_server_workers_s",
        "limit_workers0_s",
        "limit_runbook_order_s",
        "operator_workers0_s",
    }
    p2 = doc["scenarios"]["p2"]
    assert p2["size"]["rounds"] == 5 and len(p2["figures"]["pair_ratios"]) == 5
    assert p2["ratio"] == sorted(p2["figures"]["pair_ratios"])[2]  # the median of the pairs
    steps = p2["figures"]["operator_steps_median_s"]
    assert steps["apply_to_watch_event_s"] is not None and steps["cic_end_to_ready_s"] is not None
    p4 = doc["scenarios"]["p4"]
    assert p4["size"]["objects"] == 500
    assert p4["figures"]["objects_ready_after"] == 500
    assert {p.name for p in paths} == {p.name for p in results_dir.iterdir()}
    assert json.loads((results_dir / "latest.json").read_text()) == doc
