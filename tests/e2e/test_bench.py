"""One small run of the benchmarks (bench/) against the test environment: p1 and p4 at a tiny
size. It asserts only that they complete and write a well-formed result, never a timing (the
bench's arithmetic and JSON shape are unit-tested in tests/unit/test_bench.py)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from bench import report, runner, scenarios


def test_small_run_of_p1_and_p4_writes_a_well_formed_result(
    local_env: dict[str, str], tmp_path: Path
) -> None:
    """Completes and writes a well-formed result. Timings on a shared test machine mean
    nothing, so none is asserted."""
    sizes = dataclasses.replace(
        scenarios.Sizes.for_scale(0.1), p1_rows=20_000, p4_objects=500, idle_seconds=5
    )
    results_dir = tmp_path / "results"
    doc, paths = runner.run(
        ["p1", "p4"],
        scale=0.1,
        environ=local_env,
        results_dir=results_dir,
        # Only our own namespaces: the suite's other operator and objects must not be touched.
        operator_namespaces=["bench-*"],
        sizes=sizes,
        command="pytest",
    )
    assert report.validate(doc) == []
    assert set(doc["scenarios"]) == {"p1", "p4"}
    for sid, scenario in doc["scenarios"].items():
        assert scenario["error"] is None, f"{sid}: {scenario['error']}"
        assert scenario["checks"], sid
        assert all(isinstance(c["value"], (int, float)) for c in scenario["checks"]), scenario
    assert doc["scenarios"]["p1"]["ratio"] > 0
    p4 = doc["scenarios"]["p4"]
    assert p4["size"]["objects"] == 500
    assert p4["figures"]["objects_ready_after"] == 500
    assert {p.name for p in paths} == {p.name for p in results_dir.iterdir()}
    assert json.loads((results_dir / "latest.json").read_text()) == doc
