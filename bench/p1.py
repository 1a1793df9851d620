"""p1: the runbook's twelve indexes at production-like sizes (issue #15 part 1).

On ONE database, in one run, one after another: psql running examples/seed/runbook.sql (a person
working down the runbook); the physical limit (bench/limit.py: the same statements from a plain
asyncpg script, two tables at a time, longest chain first, parallel workers as the operator
decides them); the operator, from `kubectl apply` to every object Ready. Each side after a
CHECKPOINT, on the same frozen data, its indexes checked valid and dropped before the next side.
Then, once, the studies: the limit with the server's parallel workers for every build, with
none (max_parallel_maintenance_workers 0), in the runbook's order, and the operator with
`spec.build.parallelWorkers: 0`.

The data: generate.sql at :scale rows (activities), then bench/p1_grow.sql brings
segment_efforts to 5x and notifications to 3x that (1M / 5M / 3M at scale 1, the sizes of
../shared/POSTGRES.md's measurement, where psql takes 10-13 s on 2 cores).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from bench import cluster, limit, stats, timeline
from bench import scenarios as common  # imports this module back: used at call time only
from bench.process import Operator
from bench.report import ScenarioResult
from bench.stats import Check

GROW = Path(__file__).with_name("p1_grow.sql")
EFFORTS_FACTOR = 5  # segment_efforts: 5 x the activities
NOTIFICATIONS_FACTOR = 6  # notifications: generate.sql makes scale / 2; 6 x that = 3 x scale
NAMESPACE = "bench-p1"


def sizes(rows: int) -> dict[str, int]:
    return {
        "activities_rows": rows,
        "segment_efforts_rows": rows * EFFORTS_FACTOR,
        "notifications_rows": rows // 2 * NOTIFICATIONS_FACTOR,
        "indexes": 12,
        "nominal_activities_rows": 1_000_000,
    }


def run(ctx: common.Context) -> list[ScenarioResult]:
    result = ctx.result("p1")
    rows = ctx.sizes.p1_rows
    result.size = sizes(rows)
    docs = common._seed_objects()
    names = [d["spec"]["name"] for d in docs]
    keys = [(NAMESPACE, d["metadata"]["name"]) for d in docs]
    secret = docs[0]["spec"]["connection"]["secretRef"]["name"]
    runbook = common.SEED / "runbook.sql"

    ctx.say(
        f"p1: loading the seed at {rows:,} activities, {rows * EFFORTS_FACTOR:,} segment "
        f"efforts, {rows // 2 * NOTIFICATIONS_FACTOR:,} notifications"
    )
    dsn = cluster.create_database(ctx.admin_dsn, "bench_p1")
    op: Operator | None = None
    try:
        load_s = _load(ctx, dsn, rows)
        result.figures["load_s"] = common._round(load_s)
        statements = limit.parse(runbook.read_text())
        pages = limit.table_pages(dsn, sorted({s.table for s in statements}))
        result.figures["table_pages"] = pages
        op = ctx.operator("operator-p1")
        op.start()
        seed_manifest = common.SEED / "indexes.yaml"
        psql_walls: list[float] = []
        limit_runs: list[limit.Run] = []
        op_runs: list[dict[str, Any]] = []
        for round_no in range(ctx.repeat):
            n = round_no + 1
            ctx.say(f"p1: psql runbook.sql (12 statements one after another), round {n}")
            cluster.checkpoint(ctx.admin_dsn)
            wall, _ = cluster.psql(ctx.env, dsn, file=runbook)
            _done(ctx, dsn, names, "psql")
            psql_walls.append(wall)

            ctx.say(f"p1: the physical limit (asyncpg, two tables at a time), round {n}")
            cluster.checkpoint(ctx.admin_dsn)
            limit_runs.append(limit.run(dsn, statements, pages))
            _done(ctx, dsn, names, "limit")

            ctx.say(f"p1: kubectl apply -f indexes.yaml -> all Ready, round {n}")
            cluster.checkpoint(ctx.admin_dsn)
            op_runs.append(
                _operator_round(ctx, op, seed_manifest, keys, secret, dsn, names, 30 * wall)
            )

        psql_s = common._median(psql_walls)
        limit_s = common._median([r.wall_s for r in limit_runs])
        op_s = common._median([r["wall_s"] for r in op_runs])
        ratio_psql = common._round(stats.ratio(op_s, psql_s))
        ratio_limit = common._round(stats.ratio(op_s, limit_s))
        to_ready = [r["last_build_end_to_ready_s"] for r in op_runs]
        result.ratio = ratio_psql
        result.figures.update(
            {
                "psql_s": psql_s,
                "limit_s": limit_s,
                "operator_s": op_s,
                "operator_over_psql": ratio_psql,
                "operator_over_limit": ratio_limit,
                "limit_over_psql": common._round(stats.ratio(limit_s, psql_s)),
                "last_build_end_to_ready_s": _median_or_none(to_ready),
                "psql_runs_s": [common._round(w) for w in psql_walls],
                "limit_runs": [_limit_figures(r) for r in limit_runs],
                "operator_runs": op_runs,
            }
        )

        ctx.say("p1: studies: the limit with the server's workers, without, in the runbook's order")
        study: dict[str, Any] = {}
        for label, order, settings, workers in (
            ("limit_server_workers_s", "longest", {}, "server"),
            ("limit_workers0_s", "longest", {"max_parallel_maintenance_workers": "0"}, "server"),
            ("limit_runbook_order_s", "file", {}, "operator"),
        ):
            cluster.checkpoint(ctx.admin_dsn)
            study_run = limit.run(
                dsn, statements, pages, order=order, settings=settings, workers=workers
            )
            _done(ctx, dsn, names, label)
            study[label] = common._round(study_run.wall_s)
            study[label.removesuffix("_s") + "_runs"] = _limit_figures(study_run)
        ctx.say("p1: study: the operator with spec.build.parallelWorkers: 0")
        cluster.checkpoint(ctx.admin_dsn)
        workers0 = _write_with_build(ctx.log_dir / "p1-workers0.yaml", docs, {"parallelWorkers": 0})
        run0 = _operator_round(ctx, op, workers0, keys, secret, dsn, names, 30 * psql_s)
        study["operator_workers0_s"] = run0["wall_s"]
        study["operator_workers0_run"] = run0
        result.figures["study"] = study

        result.checks = [
            Check("operator/psql", ratio_psql, "<=", 0.8, against=f"psql {psql_s:.2f} s"),
            Check("operator/limit", ratio_limit, "<=", 1.05, against=f"limit {limit_s:.2f} s"),
        ]
        result.summary = (
            f"operator {op_s:.2f} s, psql {psql_s:.2f} s\n"
            f"limit {limit_s:.2f} s; Ready {stats.fmt(_median_or_none(to_ready))} s\n"
            "after the last build ends"
        )
    finally:
        if op is not None:
            common._safe(lambda: common._cleanup_namespaces(ctx, [NAMESPACE]), ctx)
            op.stop()
        cluster.drop_database(ctx.admin_dsn, "bench_p1")
    return [result]


def _load(ctx: common.Context, dsn: str, rows: int) -> float:
    started = time.monotonic()
    cluster.psql(ctx.env, dsn, file=common.SEED / "schema.sql")
    cluster.psql(ctx.env, dsn, file=common.SEED / "generate.sql", variables={"scale": str(rows)})
    cluster.psql(
        ctx.env,
        dsn,
        file=GROW,
        variables={
            "efforts_factor": str(EFFORTS_FACTOR),
            "notifications_factor": str(NOTIFICATIONS_FACTOR),
        },
    )
    # Frozen and analysed: no autovacuum or hint-bit writes land in any side's measurement.
    cluster.psql(ctx.env, dsn, command="VACUUM (FREEZE, ANALYZE)")
    return time.monotonic() - started


def _done(ctx: common.Context, dsn: str, names: Sequence[str], side: str) -> None:
    """Every index valid after a side; then dropped for the next one."""
    common._check_valid(dsn, names, side)
    cluster.drop_indexes(dsn, names)


def _operator_round(
    ctx: common.Context,
    op: Operator,
    manifest: Path,
    keys: Sequence[tuple[str, str]],
    secret: str,
    dsn: str,
    names: Sequence[str],
    timeout: float,
) -> dict[str, Any]:
    """One operator side: apply -> all Ready, with the timeline from the operator's log."""
    ctx.kube.namespace(NAMESPACE)
    ctx.kube.secret(NAMESPACE, secret, {"dsn": dsn})
    marks: list[float] = []

    def apply() -> float:
        marks.append(time.time())
        return ctx.kube.apply(manifest, namespace=NAMESPACE)

    with cluster.StatusWatcher(ctx.kube, [NAMESPACE]) as watcher:
        run: dict[str, Any] = common._operator_side(
            ctx, op, keys, apply, timeout=max(600.0, timeout), watcher=watcher
        )
    common._check_valid(dsn, names, "operator")
    applied = marks[0]
    ready = applied + run["wall_s"]
    found = {
        label: build
        for label, build in timeline.builds(op.log(), since=applied).items()
        if label.startswith(f"{NAMESPACE}/")
    }
    spans = [(b.decided, b.ended) for b in found.values() if b.ended is not None]
    run.update(
        {
            "last_build_end_to_ready_s": timeline.last_build_to_ready(found, ready),
            "apply_to_first_build_s": common._round(
                min(b.decided for b in found.values()) - applied
            )
            if found
            else None,
            "builds_busy_s": common._round(timeline.busy_seconds(spans)),
            "build_start_order": timeline.start_order(found),
        }
    )
    common._cleanup_namespaces(ctx, [NAMESPACE])
    cluster.drop_indexes(dsn, names)
    return run


def _write_with_build(path: Path, docs: Sequence[dict[str, Any]], build: dict[str, Any]) -> Path:
    changed = [
        {**d, "spec": {**d["spec"], "build": {**d["spec"].get("build", {}), **build}}} for d in docs
    ]
    path.write_text(yaml.safe_dump_all(changed, sort_keys=False))
    return path


def _limit_figures(run: limit.Run) -> dict[str, Any]:
    return {
        "wall_s": common._round(run.wall_s),
        "order": run.order,
        "settings": dict(run.settings),
        "serial_tables": list(run.serial_tables),
        "builds": [
            {
                "index": t.name,
                "table": t.table,
                "start_s": common._round(t.started),
                "end_s": common._round(t.ended),
            }
            for t in run.timings
        ],
    }


def _median_or_none(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return common._median(known) if known else None
