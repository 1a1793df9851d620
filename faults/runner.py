"""Runs the chosen scenarios, each `repeat` times, against one local environment."""

from __future__ import annotations

import tempfile
import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tests.harness import env, pg
from tests.harness.env import REPO_ROOT
from tests.harness.kube import GROUP, PLURAL, VERSION, Kube, kubectl

from faults import blocked, burst, context, hostile, interrupted, report, secrets
from faults.context import Context, Run

RESULTS_DIR = REPO_ROOT / "faults" / "results"
Scenario = Callable[[Context], Run]
SCENARIOS: dict[str, tuple[str, Scenario]] = {
    "1": ("operator SIGKILLed at a random moment of a build", interrupted.sigkill),
    "2": ("the build's backend terminated (pg_terminate_backend)", interrupted.terminate_backend),
    "3a": ("PostgreSQL restarted mid-build (pg_ctl restart -m immediate)", interrupted.pg_restart),
    "3b": ("PostgreSQL stopped mid-build, started again later", interrupted.pg_stopped),
    "4": ("kube-apiserver stopped and started mid-build", interrupted.apiserver_stopped),
    "5": ("idle-in-transaction blocker, lock_timeout, retried", blocked.idle_blocker),
    "6": (
        "UNIQUE over duplicates: 23505, no hot loop, retry annotation",
        blocked.unique_duplicates,
    ),
    "7": ("Secret deleted and recreated, password rotated", secrets.rotation),
    "8": ("hostile and malformed specs rejected before any SQL", hostile.hostile_specs),
    "9": ("burst of new objects, 504 after applied writes: none stranded", burst.burst),
}


def parse_selection(text: str | None) -> list[str]:
    """FAULTS=1,3a,9 -> those, in the suite's order; empty or 'all' -> every scenario. '3'
    means 3a and 3b."""
    if text is None or text.strip() in ("", "all"):
        return list(SCENARIOS)
    wanted = {part.strip().lower() for part in text.split(",") if part.strip()}
    if "3" in wanted:
        wanted |= {"3a", "3b"}
        wanted.discard("3")
    unknown = sorted(wanted - set(SCENARIOS))
    if unknown:
        raise ValueError(f"unknown scenario(s) {unknown}; choose from {', '.join(SCENARIOS)}")
    return [sid for sid in SCENARIOS if sid in wanted]


def run(
    selection: Sequence[str] | None = None,
    *,
    repeat: int = 20,
    seed: int | None = None,
    burst_objects: int = 2000,
    burst_share: float = 0.02,
    hot_window: float = 60.0,
    pg_down: float = 30.0,
    big_rows: int = 300_000,
    environ: dict[str, str] | None = None,
    results_dir: Path = RESULTS_DIR,
    command: str = "python -m faults",
    say: Callable[[str], None] | None = None,
) -> tuple[dict[str, Any], list[report.Row]]:
    """Run the scenarios; return the results document (also written to latest.json)."""
    chosen = list(selection) if selection else list(SCENARIOS)
    say = say or (lambda text: print(f"[faults] {text}", flush=True))
    seed = int(time.time()) if seed is None else seed
    say(f"seed {seed} (FAULTS_SEED={seed} repeats the same fault moments)")
    the_env = env.load(environ)
    kube = Kube(the_env)
    admin = the_env["PGURL"]
    kubectl(the_env, "apply", "-f", str(REPO_ROOT / "crds"))
    _wait_established(the_env)
    _clean_leftovers(the_env, kube, admin, say)
    log_dir = Path(tempfile.mkdtemp(prefix="faults-"))
    ctx = Context(
        env=the_env,
        kube=kube,
        admin=admin,
        log_dir=log_dir,
        seed=seed,
        hot_window=hot_window,
        pg_down=pg_down,
        burst=burst_objects,
        burst_share=burst_share,
        say=say,
    )
    started = report.utc_now()
    rows = [report.Row(sid, SCENARIOS[sid][0]) for sid in chosen]
    ctx.template = f"{context.DATABASE_PREFIX}tmpl_{uuid.uuid4().hex[:6]}"

    def document(complete: bool) -> dict[str, Any]:
        return {
            "started": started,
            "finished": report.utc_now(),
            "complete": complete,
            "command": command,
            "seed": seed,
            "repeat": repeat,
            "settings": {
                "burst_objects": burst_objects,
                "burst_504_share": burst_share,
                "hot_loop_window_s": hot_window,
                "postgres_down_s": pg_down,
                "big_rows": big_rows,
                "build_seconds": round(ctx.build_seconds, 2),
                "operator": context.operator_settings(),
            },
            "passed": complete and all(row.passed for row in rows),
            "scenarios": [row.summary() for row in rows if row.runs],
            "operator_log_dir": str(log_dir),
        }

    try:
        _make_template(ctx, big_rows)
        ctx.operator = ctx.new_operator("operator")
        ctx.operator.start()
        ctx.build_seconds = _calibrate(ctx)
        say(f"one build on `big` ({big_rows} rows): {ctx.build_seconds:.1f} s; logs: {log_dir}")
        for row in rows:
            for number in range(1, repeat + 1):
                began = time.monotonic()
                outcome = _one(ctx, row.id)
                row.runs.append(outcome)
                row.seconds.append(time.monotonic() - began)
                verdict = "ok" if outcome.passed else f"FAILED: {outcome.error}"
                say(
                    f"{row.id} run {number}/{repeat}: {verdict}; recover {outcome.recover_s} s; "
                    f"invalid {outcome.invalid_left}, duplicates {outcome.duplicate_builds}; "
                    f"{outcome.figures}"
                )
                report.write(
                    results_dir, document(complete=False)
                )  # an interrupted run keeps these
    finally:
        if ctx.operator is not None:
            ctx.operator.stop()
        pg.execute(admin, f'DROP DATABASE IF EXISTS "{ctx.template}" WITH (FORCE)')
    doc = document(complete=True)
    path = report.write(results_dir, doc)
    print(report.table(rows), flush=True)
    say(f"wrote {path}")
    return doc, rows


def _wait_established(the_env: dict[str, str], timeout: float = 120) -> None:
    """`kubectl wait` fails outright ("accessor error: <nil>") while the CRD has no conditions
    yet, a moment after its creation: ask again until it is Established."""
    deadline = time.monotonic() + timeout
    while True:
        waited = kubectl(
            the_env,
            "wait",
            "--for=condition=Established",
            "--timeout=30s",
            f"crd/{PLURAL}.{GROUP}",
            check=time.monotonic() > deadline,
        )
        if waited.returncode == 0:
            return
        time.sleep(1)


def _one(ctx: Context, sid: str) -> Run:
    try:
        return SCENARIOS[sid][1](ctx)
    except Exception as exc:
        ctx.say(f"{sid}: {traceback.format_exc()}")
        process = ctx.operator.process if ctx.operator is not None else None
        if ctx.operator is not None and process is not None and process.poll() is not None:
            ctx.operator.start()  # a scenario that failed half-way must not sink the rest
        return Run(error=f"{type(exc).__name__}: {exc}"[:2000])
    finally:
        ctx.clean()


def _make_template(ctx: Context, rows: int) -> None:
    pg.execute(ctx.admin, f'CREATE DATABASE "{ctx.template}"')
    dsn = pg.with_database(ctx.admin, ctx.template)
    pg.execute(
        dsn,
        "CREATE TABLE big AS SELECT g::bigint AS id, md5(g::text) AS k "
        f"FROM generate_series(1, {int(rows)}) g",
    )
    pg.execute(dsn, "VACUUM ANALYZE big")


def _calibrate(ctx: Context) -> float:
    """Seconds one slow build on `big` takes here: the window random faults are drawn from."""
    namespace, dsn = ctx.target(big=True)
    try:
        ctx.kube.create(namespace, "big-k", context.big_spec())
        ctx.builder_pid(dsn)
        began = time.monotonic()
        return max(0.5, ctx.wait_ready(namespace, "big-k") - began)
    finally:
        ctx.clean()


def _clean_leftovers(
    the_env: dict[str, str], kube: Kube, admin: str, say: Callable[[str], None]
) -> None:
    """Namespaces and databases an interrupted run left (no operator runs now to release the
    finalizers, so they are removed first)."""
    names = kubectl(the_env, "get", "namespaces", "-o", "name").stdout.split()
    ours = [
        n.split("/", 1)[1]
        for n in names
        if n.split("/", 1)[1].startswith((context.NAMESPACE_PREFIX, burst.PREFIX))
    ]
    for namespace in ours:
        say(f"removing the leftover namespace {namespace}")
        items = kube.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
        for item in items["items"]:
            kube.patch(namespace, item["metadata"]["name"], {"metadata": {"finalizers": None}})
        kubectl(the_env, "delete", "namespace", namespace, "--wait=false", check=False)
    rows = pg.query(
        admin,
        "SELECT datname FROM pg_database WHERE datname LIKE $1 AND NOT datistemplate",
        context.DATABASE_PREFIX + "%",
    )
    for row in rows:
        pg.execute(admin, f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')
    for role in pg.query(admin, "SELECT rolname FROM pg_roles WHERE rolname LIKE 'fault\\_%'"):
        pg.execute(admin, f'DROP ROLE IF EXISTS "{role["rolname"]}"')
