"""The scenarios. Each returns ScenarioResults; a missed target is a result, not an error.

Fairness rules every ratio follows: both sides run in the same invocation, on the same server and
settings, on the SAME database and data (the psql side first, then its indexes are dropped and the
operator builds them again), each side after a CHECKPOINT so that neither pays for the other's
dirty buffers, with nothing else of ours running on the database. Sides are timed on one
monotonic clock: psql from spawn to exit; the operator from just before `kubectl apply` to the
moment the watch delivers the last object's Ready status (what a user waiting on `kubectl wait`
would see).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml
from tests.harness.env import REPO_ROOT
from tests.harness.kube import GROUP, KIND, VERSION
from tests.harness.process import metric_sum

from bench import apicalls, cluster, p1, p2, shipped, stats
from bench.cluster import BenchError, Kube, StatusWatcher
from bench.machine import load_average
from bench.process import Operator, control_plane_cpu
from bench.report import ScenarioResult
from bench.stats import Check

SEED = REPO_ROOT / "examples" / "seed"
TITLES = {
    "p1": "runbook's 12 indexes: kubectl apply -> all Ready vs psql runbook.sql",
    "p2": "one btree index on a big table: operator vs psql",
    "p3": "many small indexes over 10 databases: operator vs sequential psql",
    "p4": "idle fleet of already-Ready objects: restart, RSS, CPU, catalog reads",
    "p5": "status freshness and patch rate during p2's build",
}
ALL = tuple(TITLES)
# The BENCH_SCALE at which each scenario runs at the size the targets refer to.
NOMINAL_SCALE = {"p1": 1.0, "p2": 1.0, "p3": 5.0, "p4": 5.0, "p5": 1.0}


@dataclasses.dataclass(frozen=True)
class Sizes:
    p1_rows: int  # generate.sql :scale (rows of the biggest seed tables)
    p2_rows: int
    p3_indexes: int
    p3_databases: int
    p3_table_rows: int
    p4_objects: int
    p4_databases: int
    idle_seconds: float  # p4's idle window; also the operator's resync interval when < 60 s

    @classmethod
    def for_scale(cls, scale: float) -> Sizes:
        """BENCH_SCALE=1 (the default, a few minutes on 2 cores): p1 and p2 at the issue's
        sizes, p3 and p4 at a fifth of them; BENCH_SCALE=5 puts p3 and p4 at theirs."""
        if not scale > 0:
            raise ValueError(f"BENCH_SCALE must be positive, got {scale!r}")
        return cls(
            p1_rows=max(1_000, round(1_000_000 * scale)),  # 1M-row seed at scale 1
            p2_rows=max(10_000, round(5_000_000 * scale)),  # 5M rows at scale 1
            p3_indexes=max(10, round(200 * scale)),  # 1,000 indexes at scale 5
            p3_databases=10,
            p3_table_rows=10_000,
            p4_objects=max(10, round(2_000 * scale)),  # 10,000 objects at scale 5
            p4_databases=10,
            idle_seconds=60.0 if scale >= 1 else max(10.0, round(60.0 * scale)),
        )


@dataclasses.dataclass
class Context:
    env: dict[str, str]
    kube: Kube
    admin_dsn: str
    scale: float
    sizes: Sizes
    log_dir: Path
    facts: dict[str, Any]
    operator_namespaces: Sequence[str] = ()  # empty: run -A
    repeat: int = 1
    say: Callable[[str], None] = print

    def operator(self, name: str, settings: dict[str, str] | None = None) -> Operator:
        return Operator(
            self.env,
            self.log_dir,
            namespaces=self.operator_namespaces,
            settings=settings,
            name=name,
        )

    def result(self, sid: str) -> ScenarioResult:
        return ScenarioResult(
            id=sid,
            scenario=TITLES[sid],
            scale=self.scale,
            environment={**self.facts, "load_average_at_start": load_average()},
        )


# -- helpers ------------------------------------------------------------------------------------


def _seed_objects() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((SEED / "indexes.yaml").read_text()) if d]


def _round(value: float, digits: int = 3) -> float:
    return round(value, digits)


def _median(values: Sequence[float]) -> float:
    return _round(stats.median(values))


def _cleanup_namespaces(ctx: Context, names: Sequence[str], timeout: float = 900) -> None:
    """Delete bench namespaces; the running operator releases its finalizers."""
    ctx.kube.delete_namespaces(names, timeout=timeout)


def _object(
    namespace: str,
    name: str,
    table: str,
    index: str,
    columns: Sequence[str],
    scenario: str,
    secret: str = "db",
) -> str:
    cols = "".join(f"\n  - column: {c}" for c in columns)
    return (
        f"apiVersion: {GROUP}/{VERSION}\n"
        f"kind: {KIND}\n"
        f"metadata:\n  name: {name}\n  namespace: {namespace}\n"
        f"  labels:\n    {cluster.BENCH_LABEL}: {scenario}\n"
        f"spec:\n  connection:\n    secretRef:\n      name: {secret}\n"
        f"  table: {table}\n  name: {index}\n  columns:{cols}\n"
    )


def _write_yaml(path: Path, documents: Sequence[str]) -> Path:
    path.write_text("---\n".join(documents))
    return path


def _operator_side(
    ctx: Context,
    op: Operator,
    keys: Sequence[tuple[str, str]],
    apply: Callable[[], float],
    timeout: float,
    watcher: StatusWatcher,
) -> dict[str, float]:
    """Apply (via `apply`) and wait until every key is Ready; return the operator's figures."""
    before = op.scrape()
    cpu0 = op.sample().cpu_seconds
    api0 = control_plane_cpu(ctx.env)
    t0 = time.monotonic()
    apply_seconds = apply()
    last_ready = watcher.wait_ready(keys, timeout=timeout, alive=op.check_alive)
    wall = last_ready - t0
    after = op.scrape()
    cpu1 = op.sample().cpu_seconds
    api1 = control_plane_cpu(ctx.env)

    def delta(name: str) -> float:
        return metric_sum(after, name) - metric_sum(before, name)

    return {
        "wall_s": _round(wall),
        "apply_s": _round(apply_seconds),
        "ready_after_apply_s": _round(wall - apply_seconds),
        "builds_started": delta("dbindex_builds_started_total"),
        "builds_succeeded": delta("dbindex_builds_succeeded_total"),
        "builds_failed": delta("dbindex_builds_failed_total"),
        "build_seconds_sum": _round(delta("dbindex_build_duration_seconds_sum")),
        "status_patches": delta("dbindex_status_patches_total"),
        "catalog_queries": delta("dbindex_catalog_queries_total"),
        "operator_cpu_s": _round(cpu1 - cpu0),
        **{
            f"{name.replace('-', '_')}_cpu_s": _round(api1[name] - api0[name])
            for name in api0
            if name in api1
        },
    }


def _check_valid(dsn: str, names: Sequence[str], side: str) -> None:
    validity = cluster.index_validity(dsn, names)
    bad = [n for n in names if not validity.get(n)]
    if bad:
        raise BenchError(
            f"after the {side} side, {len(bad)} indexes are missing or INVALID: {bad[:5]}"
        )


def _safe(action: Callable[[], Any], ctx: Context) -> None:
    try:
        action()
    except Exception as exc:  # cleanup must not hide the scenario's own outcome
        ctx.say(f"cleanup problem: {exc}")


# -- p3 -----------------------------------------------------------------------------------------

_COMBOS = (("a",), ("b",), ("c",), ("d",), ("a", "b"), ("b", "c"), ("c", "d"), ("a", "c"))


def split(total: int, parts: int) -> list[int]:
    """`total` items over `parts` as evenly as possible (the first ones get the remainder)."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def p3_plan(per_db: int, tables: int = 10) -> list[tuple[str, str, tuple[str, ...]]]:
    """(index name, table, columns) for one database: round-robin over the tables."""
    return [
        (f"i_{j:04d}", f"t{j % tables}", _COMBOS[(j // tables) % len(_COMBOS)])
        for j in range(per_db)
    ]


def p3(ctx: Context) -> list[ScenarioResult]:
    result = ctx.result("p3")
    total, n_db = ctx.sizes.p3_indexes, min(ctx.sizes.p3_databases, ctx.sizes.p3_indexes)
    rows = ctx.sizes.p3_table_rows
    result.size = {
        "indexes": total,
        "databases": n_db,
        "tables_per_database": 10,
        "rows_per_table": rows,
        "nominal_indexes": 1_000,
    }
    dbs = [f"bench_p3_{i:02d}" for i in range(n_db)]
    namespaces = [f"bench-p3-{i:02d}" for i in range(n_db)]
    plans = [p3_plan(n) for n in split(total, n_db)]
    ctx.say(f"p3: {n_db} databases of 10 tables x {rows:,} rows; {total} indexes")
    op: Operator | None = None
    try:
        template = cluster.create_database(ctx.admin_dsn, "bench_p3_template")
        ddl = "".join(
            f"CREATE TABLE t{t} AS SELECT g AS id, (random() * 1e6)::int AS a, "
            f"(random() * 1e4)::int AS b, (random() * 100)::int AS c, g % 977 AS d "
            f"FROM generate_series(1, {rows}) AS g;\n"
            for t in range(10)
        )
        cluster.psql(ctx.env, template, script="SELECT setseed(0.3);\n" + ddl)
        cluster.psql(ctx.env, template, command="VACUUM (FREEZE, ANALYZE)")
        dsns = [cluster.create_database(ctx.admin_dsn, db, "bench_p3_template") for db in dbs]
        cluster.drop_database(ctx.admin_dsn, "bench_p3_template")

        script = "".join(
            f"\\connect {db}\n"
            + "".join(
                f"CREATE INDEX CONCURRENTLY {name} ON {table} ({', '.join(cols)});\n"
                for name, table, cols in plan
            )
            for db, plan in zip(dbs, plans, strict=True)
        )
        docs = [
            _object(ns, name.replace("_", "-"), table, name, cols, "p3")
            for ns, plan in zip(namespaces, plans, strict=True)
            for name, table, cols in plan
        ]
        manifest = _write_yaml(ctx.log_dir / "p3.yaml", docs)
        keys = [
            (ns, name.replace("_", "-"))
            for ns, plan in zip(namespaces, plans, strict=True)
            for name, _, _ in plan
        ]
        op = ctx.operator("operator-p3")
        op.start()
        psql_walls: list[float] = []
        op_runs: list[dict[str, float]] = []
        for round_no in range(ctx.repeat):
            cluster.checkpoint(ctx.admin_dsn)
            ctx.say(f"p3: psql, {total} statements one after another, round {round_no + 1}")
            wall, _ = cluster.psql(ctx.env, ctx.admin_dsn, script=script)
            psql_walls.append(wall)
            for dsn, plan in zip(dsns, plans, strict=True):
                names = [p[0] for p in plan]
                _check_valid(dsn, names, "psql")
                cluster.drop_indexes(dsn, names)
            cluster.checkpoint(ctx.admin_dsn)

            ctx.say(f"p3: kubectl apply --server-side ({total} objects) -> all Ready")
            for ns, dsn in zip(namespaces, dsns, strict=True):
                ctx.kube.namespace(ns)
                ctx.kube.secret(ns, "db", {"dsn": dsn})
            requests_before = apicalls.read(ctx.kube)
            with StatusWatcher(
                ctx.kube, namespaces, label_selector=f"{cluster.BENCH_LABEL}=p3"
            ) as watcher:
                run = _operator_side(
                    ctx,
                    op,
                    keys,
                    lambda: ctx.kube.apply(manifest, server_side=True),
                    timeout=max(900.0, 30 * wall),
                    watcher=watcher,
                )
            time.sleep(3.0)  # writes that trail Ready (its Event) still count
            run.update(apicalls.per_object(requests_before, apicalls.read(ctx.kube), run, total))
            for dsn, plan in zip(dsns, plans, strict=True):
                _check_valid(dsn, [p[0] for p in plan], "operator")
            op_runs.append(run)
            ctx.say("p3: deleting the objects")
            _cleanup_namespaces(ctx, namespaces)
            for dsn, plan in zip(dsns, plans, strict=True):
                cluster.drop_indexes(dsn, [p[0] for p in plan])
        psql_s = _median(psql_walls)
        op_s = _median([r["wall_s"] for r in op_runs])
        result.ratio = _round(stats.ratio(op_s, psql_s))
        result.figures.update(
            {
                "psql_s": psql_s,
                "operator_s": op_s,
                "psql_indexes_per_s": _round(total / psql_s, 1),
                "operator_indexes_per_s": _round(total / op_s, 1),
                "psql_runs_s": [_round(w) for w in psql_walls],
                "operator_runs": op_runs,
                **apicalls.summary(op_runs),
            }
        )
        result.checks = [
            Check("ratio", result.ratio, "<=", 1.0),
            Check("writes/object", result.figures["writes_per_object"], "<=", 3.0),
        ]
        result.summary = f"operator {op_s:.2f} s / psql {psql_s:.2f} s"
    finally:
        if op is not None:
            _safe(lambda: _cleanup_namespaces(ctx, namespaces), ctx)
            op.stop()
        for db in [*dbs, "bench_p3_template"]:
            cluster.drop_database(ctx.admin_dsn, db)
    return [result]


# -- p4 -----------------------------------------------------------------------------------------

_P4_TABLES = 50
_P4_COLUMNS = (("a",), ("b",), ("a", "b"))


def p4_plan(per_db: int) -> list[tuple[str, str, tuple[str, ...]]]:
    return [
        (f"i_{j:05d}", f"t{j % _P4_TABLES:02d}", _P4_COLUMNS[(j // _P4_TABLES) % 3])
        for j in range(per_db)
    ]


def p4(ctx: Context) -> list[ScenarioResult]:
    result = ctx.result("p4")
    total = ctx.sizes.p4_objects
    n_db = min(ctx.sizes.p4_databases, total)
    idle = ctx.sizes.idle_seconds
    resync = idle if idle < 60 else 60.0
    quiet = min(6.0, resync * 0.6)
    result.size = {
        "objects": total,
        "databases": n_db,
        "tables_per_database": _P4_TABLES,
        "idle_window_s": idle,
        "resync_interval_s": resync,
        "nominal_objects": 10_000,
    }
    dbs = [f"bench_p4_{i:02d}" for i in range(n_db)]
    namespaces = [f"bench-p4-{i:02d}" for i in range(n_db)]
    plans = [p4_plan(n) for n in split(total, n_db)]
    settings = {} if resync == 60.0 else {"DBINDEX_RESYNC_INTERVAL": f"{resync:g}"}
    op: Operator | None = None
    try:
        ctx.say(f"p4: {n_db} databases with {total} indexes created by psql")
        template = cluster.create_database(ctx.admin_dsn, "bench_p4_template")
        tables = "".join(
            f"CREATE TABLE t{t:02d} AS SELECT g AS a, g % 7 AS b FROM generate_series(1, 100) g;\n"
            for t in range(_P4_TABLES)
        )
        widest = max(plans, key=len)
        indexes = "".join(
            f"CREATE INDEX {name} ON {table} ({', '.join(cols)});\n" for name, table, cols in widest
        )
        cluster.psql(
            ctx.env, template, script=f"BEGIN;\n{tables}{indexes}COMMIT;\nVACUUM ANALYZE;\n"
        )
        dsns = [cluster.create_database(ctx.admin_dsn, db, "bench_p4_template") for db in dbs]
        cluster.drop_database(ctx.admin_dsn, "bench_p4_template")
        # Databases given fewer objects than the widest plan keep the extra indexes unclaimed.

        for ns, dsn in zip(namespaces, dsns, strict=True):
            ctx.kube.namespace(ns)
            ctx.kube.secret(ns, "db", {"dsn": dsn})
        docs = [
            _object(ns, name.replace("_", "-"), table, name, cols, "p4")
            for ns, plan in zip(namespaces, plans, strict=True)
            for name, table, cols in plan
        ]
        chunks = [docs[i::4] for i in range(4) if docs[i::4]]
        paths = [_write_yaml(ctx.log_dir / f"p4-{i}.yaml", c) for i, c in enumerate(chunks)]
        ctx.say(f"p4: creating {total} DatabaseIndex objects ({len(paths)} parallel applies)")
        result.figures["create_objects_s"] = _round(ctx.kube.apply_parallel(paths))

        ctx.say("p4: first operator run adopts them")
        op = ctx.operator("operator-p4", settings)
        first_start = op.start()
        adopt_timeout = max(900.0, total * 0.2)
        reached, unhandled = _wait_adopted(ctx, op, total, timeout=adopt_timeout)
        first = op.sample()
        adopt_s = None if unhandled else _round((reached or 0) - first_start)
        result.figures.update(
            {
                "first_run_adopt_s": adopt_s,
                "first_run_adopt_per_s": _round(total / adopt_s, 1) if adopt_s else None,
                "first_run_unhandled": unhandled,
                "first_run_peak_rss_mb": _round(first.hwm_kb / 1024, 1),
                "first_run_rss_mb": _round(first.rss_kb / 1024, 1),
                "first_run_cpu_s": _round(first.cpu_seconds),
                "chart_memory_limit_mb": shipped.memory_limit_mb(),
            }
        )
        extra_runs = 0
        while unhandled and extra_runs < 2:
            result.notes.append(
                f"operator run {extra_runs + 1} left {unhandled} of {total} new objects without "
                "Ready status or without the finalizer its deletionPolicy asks for (see its log "
                "for API-server timeouts); "
                "restarted it to adopt them before the measured restart"
            )
            ctx.say(f"p4: {unhandled} objects stuck unhandled; restarting to adopt them")
            op.stop()
            op.start()
            extra_runs += 1
            _, unhandled = _wait_adopted(ctx, op, total, timeout=adopt_timeout)
        result.figures["extra_adoption_runs"] = extra_runs
        if unhandled:
            raise BenchError(f"p4: {unhandled} of {total} objects were never adopted")
        op.stop()
        before = {cluster.object_key(o): o["metadata"]["resourceVersion"] for o in _p4_objects(ctx)}

        ctx.say(f"p4: restart; waiting for the catalog reads to settle (quiet {quiet:g} s)")
        started = op.start(wait=False)
        samples, metrics_up, gauge_all = _watch_restart(op, total, n_db, quiet, resync)
        settled = stats.settle_time(
            [(t, v) for t, v, _ in samples], quiet=quiet, minimum=n_db, initial=0.0
        )
        handled_s = None if settled is None else _round(settled - started)
        patches_restart = samples[-1][2] - samples[0][2] if samples else None

        ctx.say(f"p4: idle window of {idle:g} s")
        scrape0 = op.scrape()
        proc0 = op.sample()
        time.sleep(idle)
        proc1 = op.sample()
        scrape1 = op.scrape()
        window = proc1.at - proc0.at
        cpu_share = stats.cpu_share(proc1.cpu_seconds - proc0.cpu_seconds, window)
        queries = metric_sum(scrape1, "dbindex_catalog_queries_total") - metric_sum(
            scrape0, "dbindex_catalog_queries_total"
        )
        per_db = stats.per_database_per_resync(queries, n_db, window, resync)
        patches_idle = metric_sum(scrape1, "dbindex_status_patches_total") - metric_sum(
            scrape0, "dbindex_status_patches_total"
        )
        after = _p4_objects(ctx)
        ready = sum(1 for o in after if cluster.is_ready(o))
        rewritten = sum(
            1
            for o in after
            if before.get(cluster.object_key(o)) != o["metadata"]["resourceVersion"]
        )
        rss_mb = _round(proc1.rss_kb / 1024, 1)
        result.figures.update(
            {
                "rss_mb": rss_mb,
                "peak_rss_mb": _round(proc1.hwm_kb / 1024, 1),
                "idle_cpu_s": _round(proc1.cpu_seconds - proc0.cpu_seconds),
                "idle_window_s": _round(window, 1),
                "idle_cpu_share_pct": _round(100 * cpu_share),
                "restart_to_metrics_s": _round(metrics_up - started) if metrics_up else None,
                "restart_to_handled_s": handled_s,
                "restart_to_gauge_all_ready_s": _round(gauge_all - started) if gauge_all else None,
                "restart_catalog_queries": samples[-1][1] if samples else None,
                "restart_status_patches": patches_restart,
                "objects_rewritten_by_restart": rewritten,
                "objects_ready_after": ready,
                "idle_catalog_queries": queries,
                "idle_status_patches": patches_idle,
                "catalog_queries_per_db_per_resync": _round(per_db),
            }
        )
        if ready != total:
            result.notes.append(f"only {ready} of {total} objects were Ready after the restart")
        if settled is None:
            result.notes.append("the catalog-query counter never settled after the restart")
        chart_mb = result.figures["chart_memory_limit_mb"]
        result.checks = [
            Check(
                "first start peak RSS", result.figures["first_run_peak_rss_mb"], "<=", 400.0, "MB"
            ),
            Check(
                "peak RSS vs chart limit",
                result.figures["first_run_peak_rss_mb"],
                "<=",
                chart_mb,
                "MB",
            ),
            Check("adoption rate", result.figures["first_run_adopt_per_s"], ">=", 200.0, "obj/s"),
            Check("first start unhandled", result.figures["first_run_unhandled"], "<=", 0),
            Check("restart status patches", patches_restart, "<=", 0),
            Check("RSS", rss_mb, "<=", 250.0, "MB"),
            Check("idle CPU", _round(100 * cpu_share), "<=", 1.0, "% core"),
            Check("start->handled", handled_s, "<=", 10.0, "s"),
            Check("catalog q/db/resync", _round(per_db), "<=", 1.0),
        ]
        result.summary = (
            f"{total} objects, {n_db} dbs; RSS {rss_mb:.0f} MB\n"
            f"restart handled in {stats.fmt(handled_s)} s"
        )
        ctx.say("p4: deleting the fleet")
        for db in dbs:  # first, so that deletions do not wait for database checks
            cluster.drop_database(ctx.admin_dsn, db)
        _cleanup_namespaces(ctx, namespaces, timeout=max(900.0, total * 0.2))
    finally:
        if op is not None:
            if op.process is None or op.process.poll() is not None:
                _safe(op.start, ctx)
            for db in dbs:
                _safe(lambda db=db: cluster.drop_database(ctx.admin_dsn, db), ctx)
            _safe(
                lambda: _cleanup_namespaces(ctx, namespaces, timeout=max(900.0, total * 0.2)), ctx
            )
            op.stop()
        for db in [*dbs, "bench_p4_template"]:
            cluster.drop_database(ctx.admin_dsn, db)
    return [result]


def _p4_objects(ctx: Context) -> list[dict[str, Any]]:
    return ctx.kube.list_objects(label_selector=f"{cluster.BENCH_LABEL}=p4")


def _wait_adopted(
    ctx: Context, op: Operator, total: int, timeout: float, stall: float = 90.0
) -> tuple[float | None, int]:
    """Wait until every p4 object is Ready and held as its deletionPolicy asks (our finalizer
    under Delete only: runtime/holding.py), so that a restart finds nothing new.

    Returns (the monotonic time at which the status-patch counter reached `total`, i.e. all were
    reported Ready, or None; how many objects are still unhandled). Gives up early when nothing
    moves for `stall` seconds: objects whose processing got stuck get no further event."""
    deadline = time.monotonic() + timeout
    reached: float | None = None
    progress: tuple[float, int] = (-1.0, -1)
    moved_at = time.monotonic()
    # The adoption time is read off these polls. Not finer: each scrape costs the operator CPU
    # in proportion to its objects (per-object series), which would slow what it measures.
    pause = 2.0
    while True:
        op.check_alive()
        patches = op.metric("dbindex_status_patches_total")
        done = -1
        if patches >= total:
            reached = reached or time.monotonic()
            done = _count_adopted(ctx)
            if done == total:
                return reached, 0
        now = time.monotonic()
        if (patches, done) != progress:
            progress, moved_at = (patches, done), now
        elif now - moved_at > stall or now > deadline:
            return reached, total - _count_adopted(ctx)
        time.sleep(pause)


def _count_adopted(ctx: Context) -> int:
    return sum(1 for o in _p4_objects(ctx) if cluster.is_ready(o) and _held_as_asked(o))


def _held_as_asked(obj: dict[str, Any]) -> bool:
    """An adopted object carries our finalizer if, and only if, its deletion drops the index."""
    held = "dbindex.dev/finalizer" in (obj["metadata"].get("finalizers") or ())
    return held == ((obj.get("spec") or {}).get("deletionPolicy") == "Delete")


def _watch_restart(
    op: Operator, total: int, databases: int, quiet: float, resync: float
) -> tuple[list[tuple[float, float, float]], float | None, float | None]:
    """Scrape every 0.2 s from process start until the state-query counter has settled AND the
    objects gauge counts every object (it refreshes every 10 s). Returns the samples
    (time, state queries, status patches), when metrics first answered, and when the gauge
    first counted all objects Ready."""
    samples: list[tuple[float, float, float]] = []
    metrics_up: float | None = None
    gauge_all: float | None = None
    deadline = time.monotonic() + max(120.0, total * 0.05)
    while time.monotonic() < deadline:
        op.check_alive()
        try:
            scraped = op.scrape()
        except OSError:
            time.sleep(0.1)
            continue
        now = time.monotonic()
        metrics_up = metrics_up or now
        state = metric_sum(scraped, "dbindex_catalog_queries_total", query="state")
        patches = metric_sum(scraped, "dbindex_status_patches_total")
        samples.append((now, state, patches))
        if gauge_all is None and metric_sum(scraped, "dbindex_objects", phase="Ready") >= total:
            gauge_all = now
        settled = stats.settle_time(
            [(t, v) for t, v, _ in samples], quiet=quiet, minimum=databases, initial=0.0
        )
        if settled is not None and gauge_all is not None:
            return samples, metrics_up, gauge_all
        time.sleep(0.2)
    return samples, metrics_up, gauge_all


def run_scenario(ctx: Context, sid: str, want: Sequence[str]) -> list[ScenarioResult]:
    if sid == "p1":
        return p1.run(ctx)
    if sid in ("p2", "p5"):
        return p2.run(ctx, want)
    if sid == "p3":
        return p3(ctx)
    if sid == "p4":
        return p4(ctx)
    raise ValueError(sid)
