"""p2 and p5: one btree index on big(id bigint, k text) (issue #15 part 2).

p2 is the operator's overhead floor: psql and the operator build the same index in pairs
interleaved on the same data (at least five pairs; psql first in one pair, the operator first in
the next, so that a drifting load favours neither), and the figure is the median of the
per-pair ratios, so that a slow moment of the shared machine lands in one pair rather than
deciding the result. Each operator round is cut into steps from
timestamps that cost it nothing (bench/timeline.py): kubectl apply; the watch event; the
worker's pass up to its decision; the build connection; the CIC's start (pg_stat_activity,
bench/activity.py); the CIC; its end to Ready in status. The psql rounds are cut the same way
(spawn -> CIC start, CIC), so the overhead is told apart from the build's own speed.

p5 samples the object's status every 0.5 s during the same operator builds.
"""

from __future__ import annotations

import dataclasses
import datetime
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import cluster, stats, timeline
from bench import scenarios as common  # imports this module back: used at call time only
from bench.activity import BuildCatcher
from bench.cluster import Kube, StatusWatcher
from bench.process import Operator
from bench.report import ScenarioResult
from bench.stats import Check

MIN_ROUNDS = 5  # p2 pairs at least: the median of five ratios is not decided by one outlier
NAMESPACE, NAME, INDEX = "bench-p2", "big-k", "big_k"
STEPS = (
    "apply_to_watch_event_s",
    "watch_event_to_decision_s",
    "decision_to_connected_s",
    "connected_to_cic_start_s",
    "apply_to_cic_start_s",
    "cic_s",
    "cic_end_to_ready_s",
    "kubectl_apply_s",
)


class ProgressSampler:
    """GETs one object every `interval` seconds; while it is Building, records the age of
    status.progress.updatedAt (wall clock, second resolution as written) and the age of the
    newest status change the watch delivered (monotonic, sub-second)."""

    def __init__(
        self, kube: Kube, watcher: StatusWatcher, key: tuple[str, str], interval: float = 0.5
    ):
        self.kube = kube
        self.watcher = watcher
        self.key = key
        self.interval = interval
        self.updated_at_ages: list[float] = []
        self.status_ages: list[float] = []
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="progress-sampler", daemon=True)

    def __enter__(self) -> ProgressSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                obj = self.kube.get(*self.key)
            except Exception:
                obj = None
            now_wall = time.time()
            now_mono = time.monotonic()
            if obj is not None:
                status = obj.get("status") or {}
                if status.get("phase") == "Building":
                    self.samples += 1
                    updated = (status.get("progress") or {}).get("updatedAt")
                    if updated:
                        self.updated_at_ages.append(max(0.0, now_wall - parse_time(updated)))
                    history = self.watcher.history(self.key)
                    if history:
                        self.status_ages.append(max(0.0, now_mono - history[-1].at))
            next_at += self.interval
            self._stop.wait(max(0.0, next_at - time.monotonic()))


def parse_time(text: str) -> float:
    """RFC 3339 UTC ('2025-01-01T12:00:00Z', optionally with fractions) -> epoch seconds."""
    moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment.timestamp()


def run(ctx: common.Context, want: Sequence[str]) -> list[ScenarioResult]:
    p2 = ctx.result("p2")
    p5 = ctx.result("p5")
    rows = ctx.sizes.p2_rows
    rounds = max(ctx.repeat, MIN_ROUNDS)
    p2.size = p5.size = {
        "rows": rows,
        "nominal_rows": 5_000_000,
        "key": "md5 text",
        "rounds": rounds,
    }

    ctx.say(f"p2: loading big(id bigint, k text) with {rows:,} rows")
    dsn = cluster.create_database(ctx.admin_dsn, "bench_p2")
    op: Operator | None = None
    try:
        load_s, _ = cluster.psql(
            ctx.env,
            dsn,
            command=(
                "CREATE TABLE big AS SELECT g::bigint AS id, md5(g::text) AS k "
                f"FROM generate_series(1, {rows}) AS g"
            ),
        )
        cluster.psql(ctx.env, dsn, command="VACUUM (FREEZE, ANALYZE) big")
        p2.figures["load_s"] = common._round(load_s)
        op = ctx.operator("operator-p2")
        op.start()
        manifest = common._write_yaml(
            ctx.log_dir / "p2.yaml",
            [common._object(NAMESPACE, NAME, "big", INDEX, ["k"], "p2")],
        )
        psql_runs: list[dict[str, Any]] = []
        op_runs: list[dict[str, Any]] = []
        sampled = Sampled()
        for round_no in range(rounds):
            n = round_no + 1
            pair: dict[str, dict[str, Any]] = {}
            for side in sides(round_no):
                cluster.checkpoint(ctx.admin_dsn)
                if side == "psql":
                    ctx.say(f"p2: psql CREATE INDEX CONCURRENTLY, round {n} of {rounds}")
                    pair[side] = _psql_round(ctx, dsn)
                else:
                    ctx.say(f"p2: the operator builds the same index, round {n} of {rounds}")
                    pair[side] = _operator_round(ctx, op, dsn, manifest, sampled, p2.notes, n)
            pair["operator"]["ratio"] = common._round(
                stats.ratio(pair["operator"]["wall_s"], pair["psql"]["wall_s"])
            )
            pair["operator"]["first_in_pair"] = sides(round_no)[0] == "operator"
            psql_runs.append(pair["psql"])
            op_runs.append(pair["operator"])

        _p2_figures(p2, psql_runs, op_runs)
        _p5_figures(p5, op_runs, sampled.updated_ages, sampled.status_ages, sampled.samples)
    finally:
        if op is not None:
            common._safe(lambda: common._cleanup_namespaces(ctx, [NAMESPACE]), ctx)
            op.stop()
        cluster.drop_database(ctx.admin_dsn, "bench_p2")
    return [r for r in (p2, p5) if r.id in want]


def sides(round_no: int) -> tuple[str, str]:
    """The order of a round's two sides: psql first in even rounds, the operator first in odd
    ones (psql, operator, operator, psql, psql, ...), so that a load that rises or falls during
    the run favours neither side: each side is first in as many pairs as the other, give or
    take one."""
    return ("psql", "operator") if round_no % 2 == 0 else ("operator", "psql")


@dataclasses.dataclass
class Sampled:
    """p5's samples over all operator rounds."""

    updated_ages: list[float] = dataclasses.field(default_factory=list)
    status_ages: list[float] = dataclasses.field(default_factory=list)
    samples: int = 0


def _operator_round(
    ctx: common.Context,
    op: Operator,
    dsn: str,
    manifest: Path,
    sampled: Sampled,
    notes: list[str],
    n: int,
) -> dict[str, Any]:
    """The operator's side: apply -> Ready, cut into steps (bench/timeline.py)."""
    key = (NAMESPACE, NAME)
    ctx.kube.namespace(NAMESPACE)
    ctx.kube.secret(NAMESPACE, "db", {"dsn": dsn})
    marks: list[float] = []

    def apply() -> float:
        marks.append(time.time())
        took = ctx.kube.apply(manifest, server_side=False)
        marks.append(time.time())
        return took

    offset = time.time() - time.monotonic()
    with (
        BuildCatcher(dsn, "bench_p2") as catcher,
        StatusWatcher(ctx.kube, [NAMESPACE]) as watcher,
        ProgressSampler(ctx.kube, watcher, key) as sampler,
    ):
        run: dict[str, Any] = common._operator_side(
            ctx, op, [key], apply, timeout=3600.0, watcher=watcher
        )
    history = watcher.history(key)
    common._check_valid(dsn, [INDEX], "operator")
    build = timeline.builds(op.log(), since=marks[0]).get(f"{NAMESPACE}/{NAME}")
    run["steps"] = timeline.overhead(
        apply_started=marks[0],
        apply_ended=marks[1],
        seen=history[0].at + offset if history else None,
        decided=build.decided if build else None,
        connected=catcher.connected,
        cic_started=catcher.started,
        cic_ended=build.ended if build else None,
        ready=marks[0] + run["wall_s"],
    )
    if catcher.error:
        notes.append(f"round {n}: pg_stat_activity not read: {catcher.error}")
    run["status_versions_seen"] = len(history)
    sampled.updated_ages += sampler.updated_at_ages
    sampled.status_ages += sampler.status_ages
    sampled.samples += sampler.samples
    common._cleanup_namespaces(ctx, [NAMESPACE])
    cluster.drop_indexes(dsn, [INDEX])
    return run


def _psql_round(ctx: common.Context, dsn: str) -> dict[str, Any]:
    """psql's side, cut the same way: spawn -> CIC start (pg_stat_activity), CIC -> exit."""
    with BuildCatcher(dsn, "bench_p2") as catcher:
        began = time.time()
        wall, _ = cluster.psql(
            ctx.env, dsn, command=f"CREATE INDEX CONCURRENTLY {INDEX} ON big (k)"
        )
    common._check_valid(dsn, [INDEX], "psql")
    cluster.drop_indexes(dsn, [INDEX])
    started = catcher.started
    return {
        "wall_s": common._round(wall),
        "spawn_to_cic_start_s": None if started is None else common._round(started - began),
        "cic_to_exit_s": None if started is None else common._round(began + wall - started),
    }


def _median_of(runs: Sequence[dict[str, Any]], field: str) -> float | None:
    values = [r[field] for r in runs if r.get(field) is not None]
    return common._median(values) if values else None


def _p2_figures(
    p2: ScenarioResult, psql_runs: Sequence[dict[str, Any]], op_runs: Sequence[dict[str, Any]]
) -> None:
    ratios = [r["ratio"] for r in op_runs]
    psql_s = common._median([r["wall_s"] for r in psql_runs])
    op_s = common._median([r["wall_s"] for r in op_runs])
    steps = {name: _median_of([r["steps"] for r in op_runs], name) for name in STEPS}
    psql_cic = _median_of(psql_runs, "cic_to_exit_s")
    psql_lead = _median_of(psql_runs, "spawn_to_cic_start_s")
    op_cic = steps["cic_s"]
    p2.ratio = common._median(ratios)
    p2.figures.update(
        {
            "psql_s": psql_s,
            "operator_s": op_s,
            "pair_ratios": ratios,
            "ratio_of_medians": common._round(stats.ratio(op_s, psql_s)),
            "operator_steps_median_s": steps,
            "psql_spawn_to_cic_start_s": psql_lead,
            "psql_cic_to_exit_s": psql_cic,
            # The operator's own cost: its wall time minus its CIC (the build itself),
            # against psql's wall time minus its CIC.
            "operator_outside_cic_s": None if op_cic is None else common._round(op_s - op_cic),
            "psql_outside_cic_s": None if psql_cic is None else common._round(psql_s - psql_cic),
            "operator_build_s": common._median([r["build_seconds_sum"] for r in op_runs]),
            "psql_runs": list(psql_runs),
            "operator_runs": list(op_runs),
        }
    )
    p2.checks = [
        Check(
            "operator/psql (median of pairs)",
            p2.ratio,
            "<=",
            1.03,
            against=f"psql {psql_s:.2f} s",
        )
    ]
    p2.summary = (
        f"operator {op_s:.2f} s / psql {psql_s:.2f} s\n"
        f"{len(ratios)} pairs: {', '.join(f'{r:.3f}' for r in ratios)}"
    )


def _p5_figures(
    p5: ScenarioResult,
    op_runs: Sequence[dict[str, Any]],
    updated_ages: list[float],
    status_ages: list[float],
    samples: int,
) -> None:
    patches = sum(r["status_patches"] for r in op_runs)
    op_total = sum(r["wall_s"] for r in op_runs)
    patch_rate = common._round(stats.per_second(patches, op_total))  # one object
    p95 = common._round(stats.percentile(updated_ages, 95)) if updated_ages else None
    worst = common._round(max(updated_ages)) if updated_ages else None
    p5.figures.update(
        {
            "samples_while_building": samples,
            "updated_at_age_p50_s": common._round(stats.median(updated_ages))
            if updated_ages
            else None,
            "updated_at_age_p95_s": p95,
            "updated_at_age_max_s": worst,
            "status_change_age_p95_s": common._round(stats.percentile(status_ages, 95))
            if status_ages
            else None,
            "status_change_age_max_s": common._round(max(status_ages)) if status_ages else None,
            "status_patches": patches,
            "operator_wall_s": common._round(op_total),
            "status_patches_per_s_per_object": patch_rate,
            "status_versions_seen": [r["status_versions_seen"] for r in op_runs],
        }
    )
    if not updated_ages:
        p5.notes.append(
            "no sample saw the object Building (the build was shorter than the sampling "
            "interval): raise BENCH_SCALE"
        )
    p5.notes.append(
        "updatedAt is written with one-second resolution, so its age reads up to 1 s older "
        "than the status really is; status_change_age_* times the watch events instead"
    )
    p5.checks = [
        Check("progress age p95", p95, "<=", 2.0, "s"),
        Check("progress age max", worst, "<=", 2.0, "s"),
        Check("patches/s/object", patch_rate, "<=", 1.0),
    ]
    p5.summary = (
        f"age p95 {stats.fmt(p95)} s, max {stats.fmt(worst)} s\n"
        f"({samples} samples); {patches:.0f} patches"
    )
