"""The benchmark harness (bench/): its arithmetic, /proc parsing and JSON shape.
tests/e2e/test_bench.py runs p1 and p4 at a tiny size against the test environment."""

from __future__ import annotations

import datetime
import json
import math
from pathlib import Path

import pytest
from bench import limit, p1, p2, process, report, runner, scenarios, stats, timeline
from bench.report import ScenarioResult
from bench.stats import Check

# -- arithmetic -----------------------------------------------------------------------------------


def test_ratio() -> None:
    assert stats.ratio(8.0, 10.0) == pytest.approx(0.8)
    assert stats.ratio(0.0, 3.0) == 0.0
    with pytest.raises(ValueError):
        stats.ratio(1.0, 0.0)
    with pytest.raises(ValueError):
        stats.ratio(1.0, -2.0)
    with pytest.raises(ValueError):
        stats.ratio(-1.0, 2.0)


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([5.0], 95, 5.0),
        ([1, 2, 3, 4], 50, 2.5),
        ([4, 1, 3, 2], 50, 2.5),  # order does not matter
        ([1, 2, 3, 4], 0, 1.0),
        ([1, 2, 3, 4], 100, 4.0),
        (list(range(1, 21)), 95, 19.05),  # numpy.percentile(range(1, 21), 95)
        ([0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0], 90, 4.55),
    ],
)
def test_percentile_interpolates_linearly(values: list[float], q: float, expected: float) -> None:
    assert stats.percentile(values, q) == pytest.approx(expected)


def test_percentile_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        stats.percentile([], 50)
    with pytest.raises(ValueError):
        stats.percentile([1.0], 101)
    with pytest.raises(ValueError):
        stats.percentile([1.0], -1)


def test_median() -> None:
    assert stats.median([3.0, 1.0, 2.0]) == 2.0
    assert stats.median([1.0, 2.0]) == 1.5


def test_rates() -> None:
    assert stats.per_second(10, 4) == 2.5
    assert stats.cpu_share(0.3, 60) == pytest.approx(0.005)
    with pytest.raises(ValueError):
        stats.per_second(1, 0)


def test_catalog_queries_per_database_per_resync() -> None:
    # 10 databases, one query each in a window of exactly one resync interval
    assert stats.per_database_per_resync(10, 10, 60, 60) == pytest.approx(1.0)
    # two intervals, one query per database each
    assert stats.per_database_per_resync(20, 10, 120, 60) == pytest.approx(1.0)
    # a database read twice per interval
    assert stats.per_database_per_resync(20, 10, 60, 60) == pytest.approx(2.0)
    with pytest.raises(ValueError):
        stats.per_database_per_resync(1, 0, 60, 60)
    with pytest.raises(ValueError):
        stats.per_database_per_resync(1, 1, 60, 0)


def test_settle_time_is_the_last_change_before_the_first_quiet_gap() -> None:
    samples = [(0.0, 0), (1.0, 2), (2.0, 5), (3.0, 5), (4.0, 5), (9.0, 5), (10.0, 6)]
    assert stats.settle_time(samples, quiet=5) == 2.0
    # the change at 10.0 is a later resync pass, not part of the start-up
    assert stats.settle_time(samples, quiet=5, minimum=6) is None
    # not quiet long enough yet
    assert stats.settle_time(samples[:5], quiet=5) is None
    # a first sample above `initial` is a change at its own time
    assert stats.settle_time([(3.0, 10), (9.5, 10)], quiet=6, initial=0) == 3.0
    assert stats.settle_time([(3.0, 10), (9.5, 10)], quiet=6) is None
    assert stats.settle_time([], quiet=1) is None


def test_check_compares_and_describes() -> None:
    assert Check("ratio", 0.8, "<=", 0.8).met
    assert not Check("ratio", 0.81, "<=", 0.8).met
    assert Check("speed", 12, ">=", 10).met
    assert not Check("ratio", None, "<=", 0.8).met  # a missing figure meets nothing
    assert not Check("ratio", math.nan, "<=", 0.8).met
    check = Check("RSS", 120.5, "<=", 250.0, "MB")
    assert check.target == "<= 250 MB"
    assert check.as_dict() == {
        "name": "RSS",
        "value": 120.5,
        "op": "<=",
        "limit": 250.0,
        "unit": "MB",
        "target": "<= 250 MB",
        "met": True,
        "against": "",
    }
    with pytest.raises(ValueError):
        Check("x", 1, "~", 1)


def test_fmt() -> None:
    assert stats.fmt(None) == "-"
    assert stats.fmt(math.nan) == "-"
    assert stats.fmt(1.23456) == "1.23"
    assert stats.fmt(1.23456, 3) == "1.235"


# -- sizes and selection --------------------------------------------------------------------------


def test_nominal_scales_give_the_issues_sizes() -> None:
    def at(sid: str) -> scenarios.Sizes:
        return scenarios.Sizes.for_scale(scenarios.NOMINAL_SCALE[sid])

    assert at("p1").p1_rows == 1_000_000
    assert at("p2").p2_rows == 5_000_000
    assert at("p3").p3_indexes == 1_000
    assert at("p3").p3_databases == 10
    assert at("p4").p4_objects == 10_000
    assert at("p4").p4_databases == 10
    assert at("p4").idle_seconds == 60
    assert set(scenarios.NOMINAL_SCALE) == set(scenarios.ALL)


def test_small_scales_shrink_with_floors() -> None:
    sizes = scenarios.Sizes.for_scale(0.0001)
    assert sizes.p1_rows == 1_000
    assert sizes.p2_rows == 10_000
    assert sizes.p3_indexes == 10
    assert sizes.p4_objects == 10
    assert sizes.idle_seconds == 10
    assert scenarios.Sizes.for_scale(1).idle_seconds == 60
    with pytest.raises(ValueError):
        scenarios.Sizes.for_scale(0)


def test_split_and_plans() -> None:
    assert scenarios.split(25, 10) == [3, 3, 3, 3, 3, 2, 2, 2, 2, 2]
    assert sum(scenarios.split(1_000, 10)) == 1_000
    plan = scenarios.p3_plan(100)
    assert len({name for name, _, _ in plan}) == 100
    assert {table for _, table, _ in plan} == {f"t{i}" for i in range(10)}
    # no two indexes with the same name; a table's indexes differ in their columns first
    per_table = [cols for _, table, cols in plan if table == "t0"]
    assert len(per_table) == 10 and len(set(per_table)) == 8
    plan4 = scenarios.p4_plan(1_000)
    assert len({name for name, _, _ in plan4}) == 1_000


def test_selection_and_scale_parsing() -> None:
    assert runner.parse_selection(None) == ["p1", "p2", "p3", "p4", "p5"]
    assert runner.parse_selection("all") == ["p1", "p2", "p3", "p4", "p5"]
    assert runner.parse_selection("p3, P1") == ["p1", "p3"]
    with pytest.raises(ValueError):
        runner.parse_selection("p1,p9")
    assert runner.parse_scale(None) == 1.0
    assert runner.parse_scale("0.25") == 0.25
    for bad in ("0", "-1", "big"):
        with pytest.raises(ValueError):
            runner.parse_scale(bad)


def test_parse_time() -> None:
    assert p2.parse_time("1970-01-01T00:00:10Z") == 10.0
    assert p2.parse_time("1970-01-01T00:00:10.5Z") == 10.5


# -- /proc parsing ---------------------------------------------------------------------------------


def test_proc_parsing() -> None:
    # The command name may hold spaces and parentheses; utime/stime are fields 14/15.
    stat = "4242 (dbindex (op) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0"
    assert process.parse_cpu_seconds(stat) == pytest.approx(300 / process.CLOCK_TICKS)
    status = "Name:\tpython\nVmPeak:\t 500 kB\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\n"
    assert process.parse_memory_kb(status) == (102400, 204800)


# -- results: shape, files, table ------------------------------------------------------------------

FACTS = {"cores": 2, "pg_version": "15.18", "fsync": "on"}


def sample_results() -> list[ScenarioResult]:
    p1 = ScenarioResult("p1", "twelve", 1.0, environment=dict(FACTS))
    p1.figures = {"psql_s": 10.0, "operator_s": 7.5}
    p1.ratio = stats.ratio(7.5, 10.0)
    p1.checks = [Check("ratio", p1.ratio, "<=", 0.8, against="psql 10.00 s")]
    p1.summary = "operator 7.50 s / psql 10.00 s"
    p4 = ScenarioResult("p4", "fleet", 1.0, environment=dict(FACTS))
    p4.figures = {"rss_mb": 300.0}
    p4.checks = [Check("RSS", 300.0, "<=", 250.0, "MB"), Check("idle CPU", 0.2, "<=", 1.0)]
    p4.summary = "line one\nline two"
    p3 = ScenarioResult("p3", "small", 1.0, environment=dict(FACTS), error="psql failed")
    return [p1, p4, p3]


def sample_document() -> dict[str, object]:
    moment = datetime.datetime(2025, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    return report.document(
        sample_results(),
        started=moment,
        finished=moment + datetime.timedelta(seconds=90),
        scale=1.0,
        requested=["p1", "p3", "p4"],
        environment=dict(FACTS),
        command="python -m bench",
    )


def test_met_needs_every_check_and_no_error() -> None:
    p1, p4, p3 = sample_results()
    assert p1.met
    assert not p4.met  # one of two checks missed
    assert not p3.met  # an error
    assert not ScenarioResult("p2", "x", 1.0).met  # no checks at all
    assert p4.target == "RSS <= 250 MB; idle CPU <= 1"


def test_document_shape() -> None:
    doc = sample_document()
    assert report.validate(doc) == []
    assert doc["started_at"] == "2025-01-02T03:04:05Z"
    assert doc["seconds"] == 90.0
    scenarios_ = doc["scenarios"]
    assert isinstance(scenarios_, dict)
    assert list(scenarios_) == ["p1", "p4", "p3"]
    p1 = scenarios_["p1"]
    assert p1["ratio"] == 0.75 and p1["met"] is True and p1["target"] == "ratio <= 0.8"
    assert p1["checks"][0]["value"] == 0.75
    assert p1["environment"]["fsync"] == "on" and p1["scale"] == 1.0
    assert scenarios_["p4"]["ratio"] is None and scenarios_["p4"]["met"] is False
    assert scenarios_["p3"]["error"] == "psql failed" and scenarios_["p3"]["met"] is False
    json.dumps(doc)  # serialisable as is


def test_validate_reports_problems() -> None:
    doc = sample_document()
    broken = json.loads(json.dumps(doc))
    del broken["scenarios"]["p1"]["figures"]
    broken["scenarios"]["p4"]["met"] = "no"
    del broken["environment"]["fsync"]
    problems = report.validate(broken)
    assert any("p1: missing ['figures']" in p for p in problems)
    assert any("p4: met is not a bool" in p for p in problems)
    assert any("environment lacks 'fsync'" in p for p in problems)


def test_write_latest_and_timestamped_copy(tmp_path: Path) -> None:
    doc = sample_document()
    moment = datetime.datetime(2025, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    latest, stamped = report.write(tmp_path / "results", doc, moment)
    assert latest.name == "latest.json"
    assert stamped.name == "20250102T030405Z.json"
    assert json.loads(latest.read_text()) == doc == json.loads(stamped.read_text())
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == [
        "20250102T030405Z.json",
        "latest.json",
    ]


def test_table_has_a_line_per_target() -> None:
    text = report.table(sample_results())
    lines = text.splitlines()
    assert lines[0].split(" | ")[:2] == ["id", "scenario"]
    assert [c.strip() for c in lines[0].split(" | ")] == [
        "id",
        "scenario",
        "figures",
        "limit",
        "ratio",
        "target",
        "met",
    ]
    cells = [[c.strip() for c in line.split(" | ")] for line in lines[2:]]
    assert ["psql 10.00 s", "ratio 0.750", "<= 0.8", "yes"] in [c[3:] for c in cells]
    assert sum(c[4:] == ["RSS 300.0 MB", "<= 250 MB", "NO"] for c in cells) == 1
    assert any(c[4:] == ["idle CPU 0.200", "<= 1", "yes"] for c in cells)
    assert any("line two" in line for line in lines)
    assert any(line.startswith("p3 ") and "ERROR: psql failed" in line for line in lines)


# -- p1: the limit script's statements and order; p1/p2 timelines ---------------------------------


def test_the_runbook_parses_into_its_twelve_statements() -> None:
    statements = limit.parse((scenarios.SEED / "runbook.sql").read_text())
    assert len(statements) == 12
    assert statements[0] == limit.Statement(
        "idx_activities_user_type_date",
        "activities",
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_activities_user_type_date "
        "ON activities(user_id, activity_type, submitted_at DESC)",
    )
    assert [s.table for s in statements].count("segment_efforts") == 2
    with pytest.raises(ValueError):
        limit.parse("DROP TABLE activities;")


def _stmt(name: str, table: str) -> limit.Statement:
    return limit.Statement(name, table, f"CREATE INDEX CONCURRENTLY {name} ON {table} (x)")


@pytest.mark.parametrize(
    ("pages", "order", "expected"),
    [
        # two builds on a 5-page table outweigh one on an 8-page table: the longest chain first
        pytest.param({"a": 8, "b": 5, "c": 1}, "longest", ["b", "a", "c"], id="chain-weight"),
        pytest.param({"a": 11, "b": 5, "c": 1}, "longest", ["a", "b", "c"], id="one-big-table"),
        # equal weight (10 = 2 x 5): the bigger table first
        pytest.param({"a": 10, "b": 5, "c": 1}, "longest", ["a", "b", "c"], id="tie-bigger"),
        pytest.param({"a": 8, "b": 5, "c": 1}, "file", ["c", "b", "a"], id="file-order"),
    ],
)
def test_limit_chains_one_per_table(pages: dict[str, int], order: str, expected: list[str]) -> None:
    statements = [_stmt("i1", "c"), _stmt("i2", "b"), _stmt("i3", "a"), _stmt("i4", "b")]
    work = limit.chains(statements, pages, order)
    assert [chain[0].table for chain in work] == expected
    assert [s.name for s in work[expected.index("b")]] == ["i2", "i4"]  # file order kept


def test_p1_sizes_are_the_issues_at_scale_one() -> None:
    rows = scenarios.Sizes.for_scale(1).p1_rows
    assert p1.sizes(rows) == {
        "activities_rows": 1_000_000,
        "segment_efforts_rows": 5_000_000,
        "notifications_rows": 3_000_000,
        "indexes": 12,
        "nominal_activities_rows": 1_000_000,
    }


LOG = """===== start #1: dbindex-operator run -A =====
[2026-12-03 12:49:55,455] dbindex_operator.run [INFO    ] metrics on 127.0.0.1:60523
[2026-12-03 12:49:55,967] dbindex_operator.run [INFO    ] old/a: building public.a
[2026-12-03 12:49:56,060] dbindex_operator.run [INFO    ] old/a: built in 0.1s
[2026-12-03 12:50:00,100] dbindex_operator.run [INFO    ] ns/a: building public.a
[2026-12-03 12:50:00,200] dbindex_operator.run [INFO    ] ns/b: building public.b
[2026-12-03 12:50:03,000] dbindex_operator.run [WARNING ] ns/b: build failed: lock timeout
[2026-12-03 12:50:04,500] dbindex_operator.run [INFO    ] ns/a: built in 4.4s
[2026-12-03 12:50:05,000] dbindex_operator.run [INFO    ] ns/b: building public.b
[2026-12-03 12:50:07,250] dbindex_operator.run [INFO    ] ns/b: built in 2.2s
"""


def test_timeline_reads_the_operators_build_lines() -> None:
    since = timeline.log_time("2026-12-03 12:50:00,000")
    found = timeline.builds(LOG, since=since)
    assert set(found) == {"ns/a", "ns/b"}  # the earlier round's lines are left out
    a, b = found["ns/a"], found["ns/b"]
    assert a.decided - since == pytest.approx(0.1)
    assert a.ended is not None and a.ended - since == pytest.approx(4.5)
    # a retried build: from the first decision to the build that succeeded
    assert b.decided - since == pytest.approx(0.2)
    assert b.ended is not None and b.ended - since == pytest.approx(7.25)
    assert timeline.start_order(found) == ["a", "b"]
    assert timeline.last_build_to_ready(found, since + 7.5) == pytest.approx(0.25)
    assert timeline.last_build_to_ready({}, since) is None


def test_busy_seconds_counts_overlaps_once() -> None:
    assert timeline.busy_seconds([]) == 0
    assert timeline.busy_seconds([(0, 4), (1, 3), (2, 6)]) == 6
    assert timeline.busy_seconds([(5, 6), (0, 1)]) == 2


def test_overhead_steps() -> None:
    steps = timeline.overhead(
        apply_started=100.0,
        apply_ended=100.4,
        seen=100.45,
        decided=100.6,
        connected=100.62,
        cic_started=100.65,
        cic_ended=110.65,
        ready=110.9,
    )
    assert steps == {
        "apply_to_watch_event_s": 0.45,
        "watch_event_to_decision_s": 0.15,
        "decision_to_connected_s": 0.02,
        "connected_to_cic_start_s": 0.03,
        "cic_s": 10.0,
        "cic_end_to_ready_s": 0.25,
        "kubectl_apply_s": 0.4,
        "apply_to_cic_start_s": 0.65,
        "total_s": 10.9,
    }
    consecutive = [
        v
        for k, v in steps.items()
        if k not in ("kubectl_apply_s", "apply_to_cic_start_s", "total_s")
    ]
    assert sum(consecutive) == pytest.approx(steps["total_s"])
    unknown = timeline.overhead(
        apply_started=0,
        apply_ended=1,
        seen=None,
        decided=None,
        connected=None,
        cic_started=None,
        cic_ended=None,
        ready=2,
    )
    assert unknown["apply_to_watch_event_s"] is None and unknown["total_s"] == 2


def test_p2_pairs_alternate_which_side_goes_first() -> None:
    orders = [p2.sides(n) for n in range(5)]
    assert orders[0] == ("psql", "operator") and orders[1] == ("operator", "psql")
    assert all(set(o) == {"psql", "operator"} for o in orders)
    firsts = [o[0] for o in orders]
    assert abs(firsts.count("psql") - firsts.count("operator")) <= 1
