"""The fault suite (faults/, `make faults`) once per scenario, inside `make test`.

The same code as `make faults FAULTS_REPEAT=20`, at CI size: one run per scenario, a burst of
300 objects instead of 2,000, and a 10 s hot-loop window instead of 60 s. PostgreSQL stays
stopped 30 s in 3b as in the full run. It stops and starts this environment's PostgreSQL and
kube-apiserver; every other operator of the suite must ride that out too. About 10-12 minutes
on 2 cores. A run "passes" when it lost nothing: Ready (or, for hostile specs, all rejected
with no SQL), no INVALID index left, no second build of an index, no password in the operator's
log, a status or an Event.
"""

from __future__ import annotations

import json
from pathlib import Path

from faults import runner


def test_every_fault_scenario_once_loses_nothing(local_env: dict[str, str], tmp_path: Path) -> None:
    doc, _ = runner.run(
        repeat=1,
        seed=16,
        burst_objects=300,
        burst_share=0.02,
        hot_window=10,
        pg_down=30,
        big_rows=200_000,
        environ=local_env,
        results_dir=tmp_path,
        command="pytest tests/e2e/test_faults.py",
    )
    written = json.loads((tmp_path / "latest.json").read_text())
    assert [s["id"] for s in written["scenarios"]] == list(runner.SCENARIOS)
    failed = {s["id"]: s["errors"] for s in doc["scenarios"] if not s["passed"]}
    assert failed == {}, f"scenarios that lost something: {failed}"
    by_id = {s["id"]: s for s in doc["scenarios"]}
    for scenario in doc["scenarios"]:
        assert scenario["invalid_left"] == 0 and scenario["duplicate_builds"] == 0, scenario
        assert scenario["secret_leaks"] == 0, scenario
    hostile = by_id["8"]["details"][0]["figures"]
    assert hostile["cases"] >= 50 and hostile["operator_statements"] == 0
    burst = by_id["9"]["details"][0]["figures"]
    assert burst["stranded"] == 0 and burst["ready"] == burst["objects"] == 300
    assert burst["injected_504"] > 0, "the burst must actually meet lost writes"
    hot = by_id["6"]["details"][0]["figures"]
    assert (
        hot["sqlstate"] == "23505" and hot["attempts_in_window"] == 0 and hot["ddl_in_window"] == 0
    )
