"""The fault suite's pure parts: scenario selection, attributing PostgreSQL log lines to the
operator, the table."""

from __future__ import annotations

import pytest
from faults import hostile, merge, pglog, report, runner
from faults.context import Run

OPERATOR = "application_name=dbindex-operator"
LOG = "".join(
    f"2026-12-03 13:00:00.{i}00 UTC [{pid}] LOG:  {text}\n"
    for i, (pid, text) in enumerate(
        [
            (101, f"connection authorized: user=postgres database=d1 {OPERATOR}"),
            (101, "execute __asyncpg_stmt_1__: SELECT 1"),
            (102, "connection authorized: user=postgres database=d1 application_name=psql"),
            (102, "statement: SELECT 2"),
            (103, f"connection authorized: user=postgres database=d2 {OPERATOR}"),
            (103, "statement: SELECT 3"),
            (101, "statement: CREATE INDEX CONCURRENTLY x ON t (a)"),
        ]
    )
)


def test_activity_counts_only_the_applications_sessions_in_that_database() -> None:
    found = pglog.activity(LOG, "d1", "dbindex-operator")
    assert (found.connections, found.statements, found.ddl) == (1, 2, 1)


def test_activity_counts_from_an_offset_but_remembers_earlier_connections() -> None:
    offset = LOG.index("2026-12-03 13:00:00.600")
    found = pglog.activity(LOG, "d1", "dbindex-operator", offset)
    assert (found.connections, found.statements, found.ddl) == (0, 1, 1)


@pytest.mark.parametrize(
    ("text", "chosen"),
    [
        pytest.param(None, list(runner.SCENARIOS), id="default-all"),
        pytest.param("all", list(runner.SCENARIOS), id="all"),
        pytest.param("9, 1", ["1", "9"], id="suite-order"),
        pytest.param("3", ["3a", "3b"], id="three-means-both"),
    ],
)
def test_selection(text: str | None, chosen: list[str]) -> None:
    assert runner.parse_selection(text) == chosen


def test_unknown_scenario_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown"):
        runner.parse_selection("10")


def test_at_least_fifty_distinct_hostile_cases() -> None:
    labels = [label for label, _ in hostile.CASES]
    assert len(labels) >= 50 and len(set(labels)) == len(labels)


def test_a_run_that_loses_anything_fails_its_scenario() -> None:
    good = Run(ok=True, recover_s=2.0)
    row = report.Row("1", "kill", [good, Run(ok=True, recover_s=5.0, invalid_left=1)], [1.0, 1.0])
    summary = row.summary()
    assert (summary["ready"], summary["invalid_left"], summary["max_recover_s"]) == (2, 1, 5.0)
    assert not summary["passed"]
    assert "| 1. kill" in report.table([row]) and "FAILED" in report.table([row])
    assert report.Row("2", "x", [good], [1.0]).passed


def _doc(sid: str, runs: int, recover: float | None, passed: bool = True) -> dict[str, object]:
    scenario = {
        "id": sid,
        "scenario": runner.SCENARIOS[sid][0],
        "runs": runs,
        "ready": runs if passed else runs - 1,
        "invalid_left": 0 if passed else 1,
        "duplicate_builds": 0,
        "secret_leaks": 0,
        "max_recover_s": recover,
        "passed": passed,
        "errors": [] if passed else ["lost one"],
        "details": [{}] * runs,
    }
    return {
        "started": f"2026-12-03T1{runs % 10}:00:00Z",
        "finished": "2026-12-03T18:00:00Z",
        "complete": True,
        "command": f"FAULTS={sid} python -m faults",
        "seed": 1,
        "settings": {},
        "scenarios": [scenario],
    }


def test_merge_adds_up_the_runs_of_a_scenario_split_over_several_documents() -> None:
    merged = merge.merge([_doc("9", 6, 120.0), _doc("1", 20, 7.0), _doc("9", 14, 90.0)])
    nine = next(s for s in merged["scenarios"] if s["id"] == "9")
    assert [s["id"] for s in merged["scenarios"]] == ["1", "9"]  # the suite's order
    assert (nine["runs"], nine["ready"], nine["max_recover_s"], len(nine["details"])) == (
        20,
        20,
        120.0,
        20,
    )
    assert merged["passed"] and len(merged["merged_from"]) == 3
    assert "| 9. " in report.summary_table(merged["scenarios"])


def test_merge_fails_when_any_part_lost_something() -> None:
    merged = merge.merge([_doc("2", 10, 5.0), _doc("2", 10, None, passed=False)])
    (two,) = merged["scenarios"]
    assert not merged["passed"] and not two["passed"]
    assert (two["runs"], two["ready"], two["invalid_left"], two["errors"]) == (
        20,
        19,
        1,
        ["lost one"],
    )


def test_merge_excludes_runs_that_never_started_but_never_one_that_lost_something() -> None:
    def run(ok: bool, error: str | None = None, invalid: int = 0) -> dict[str, object]:
        return {
            "ok": ok,
            "invalid_left": invalid,
            "duplicate_builds": 0,
            "recover_s": 1.0 if ok else None,
            "leaks": 0,
            "figures": {},
            "error": error,
        }

    timeout = "TimeoutExpired: kubectl create namespace"
    doc = _doc("6", 4, 1.0, passed=False)
    (scenario,) = doc["scenarios"]  # type: ignore[misc]
    scenario["details"] = [run(True), run(False, timeout), run(True), run(False, timeout, 1)]
    merged = merge.merge([doc], exclude=["TimeoutExpired"])
    (six,) = merged["scenarios"]
    assert merged["excluded"] == [{"id": "6", "error": timeout}]
    assert (six["runs"], six["ready"], six["passed"]) == (3, 2, False)  # the INVALID one stays
    scenario["details"] = scenario["details"][:3]
    (six,) = merge.merge([doc], exclude=["TimeoutExpired"])["scenarios"]
    assert (six["runs"], six["ready"], six["passed"], six["errors"]) == (2, 2, True, [])
