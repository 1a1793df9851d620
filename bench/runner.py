"""Runs the selected scenarios against one environment and writes the results."""

from __future__ import annotations

import dataclasses
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tests.harness import env
from tests.harness.env import REPO_ROOT

from bench import cluster, machine, report, scenarios
from bench.cluster import BenchError, Kube

RESULTS_DIR = REPO_ROOT / "bench" / "results"


def parse_selection(text: str | None) -> list[str]:
    """BENCH=p1,p3 -> ['p1', 'p3'] (in canonical order); empty or 'all' -> every scenario."""
    if text is None or text.strip() in ("", "all"):
        return list(scenarios.ALL)
    wanted = {part.strip().lower() for part in text.split(",") if part.strip()}
    unknown = sorted(wanted - set(scenarios.ALL))
    if unknown:
        raise ValueError(f"unknown scenario(s) {unknown}; choose from {', '.join(scenarios.ALL)}")
    return [sid for sid in scenarios.ALL if sid in wanted]


def parse_scale(text: str | None) -> float:
    if text is None or text.strip() == "":
        return 1.0
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"BENCH_SCALE must be a number, got {text!r}") from None
    if not value > 0:
        raise ValueError(f"BENCH_SCALE must be positive, got {text!r}")
    return value


def run(
    selection: Sequence[str] | None = None,
    *,
    scale: float = 1.0,
    environ: dict[str, str] | None = None,
    results_dir: Path = RESULTS_DIR,
    repeat: int = 1,
    operator_namespaces: Sequence[str] = (),
    sizes: scenarios.Sizes | None = None,
    command: str = "python -m bench",
    say: Callable[[str], None] | None = None,
) -> tuple[dict[str, Any], list[Path]]:
    """Run the scenarios; return the results document and the files written.

    `environ`: the environment to run against (KUBECONFIG, PGURL, PATH with kubectl and psql);
    None reads `$DBINDEX_LOCAL_DIR/env`. `operator_namespaces`: namespace patterns for the
    operator under test (`--namespace`); empty runs it as users do, `run -A`.
    """
    chosen = list(selection) if selection else list(scenarios.ALL)
    say = say or (lambda text: print(f"[bench] {text}", flush=True))
    if repeat < 1:
        raise ValueError("repeat must be at least 1")
    started = report.utc_now()
    the_env = env.load(environ, hint="PG_FSYNC=on hack/up.sh, or make bench, which does it")
    kube = Kube(the_env)
    admin = the_env["PGURL"]
    sizes = sizes or scenarios.Sizes.for_scale(scale)

    _install_crd(kube)
    if not operator_namespaces:
        _refuse_foreign_objects(kube)
    _clean_leftovers(kube, admin, say)

    server = cluster.server_facts(admin)
    facts: dict[str, Any] = {
        **machine.machine_facts(),
        **server,
        "kubernetes": kube.server_version(),
        "operator_command": "dbindex-operator run "
        + (" ".join(f"--namespace {n}" for n in operator_namespaces) or "-A"),
        "sizes": dataclasses.asdict(sizes),
        "repeat": repeat,
    }
    if server.get("fsync") != "on":
        say(f"WARNING: PostgreSQL runs with fsync={server.get('fsync')}; targets assume fsync=on")
    log_dir = Path(tempfile.mkdtemp(prefix="dbindex-bench-"))
    say(f"scale {scale:g}; scenarios {','.join(chosen)}; operator logs in {log_dir}")
    ctx = scenarios.Context(
        env=the_env,
        kube=kube,
        admin_dsn=admin,
        scale=scale,
        sizes=sizes,
        log_dir=log_dir,
        facts=facts,
        operator_namespaces=list(operator_namespaces),
        repeat=repeat,
        say=say,
    )

    results: list[report.ScenarioResult] = []
    done: set[str] = set()
    for sid in scenarios.ALL:
        if sid not in chosen or sid in done:
            continue
        group = [s for s in (("p2", "p5") if sid in ("p2", "p5") else (sid,)) if s in chosen]
        began = time.monotonic()
        try:
            produced = scenarios.run_scenario(ctx, sid, group)
        except Exception as exc:
            detail = str(exc) if isinstance(exc, BenchError) else traceback.format_exc()
            say(f"{sid}: FAILED: {detail}")
            produced = []
            for failed in group:
                result = ctx.result(failed)
                result.error = str(exc) or type(exc).__name__
                produced.append(result)
        for result in produced:
            result.seconds = time.monotonic() - began
        results += produced
        done.update(group)

    finished = report.utc_now()
    doc = report.document(
        results,
        started=started,
        finished=finished,
        scale=scale,
        requested=chosen,
        environment={k: v for k, v in facts.items()},
        command=command,
    )
    paths = report.write(results_dir, doc, finished)
    print(report.table(results), flush=True)
    say(f"wrote {paths[0]} and {paths[1].name}")
    return doc, paths


def _install_crd(kube: Kube) -> None:
    if not kube.crd_installed():
        kube.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO_ROOT / "crds"))
    kube.kubectl(
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        f"crd/{cluster.PLURAL}.{cluster.GROUP}",
    )


def _refuse_foreign_objects(kube: Kube) -> None:
    """`run -A` would act on everyone's DatabaseIndex objects: refuse if there are others'."""
    foreign = sorted(
        {o["metadata"]["namespace"] for o in kube.list_objects()} - set(kube.bench_namespaces())
    )
    if foreign:
        raise BenchError(
            "DatabaseIndex objects exist outside the bench's namespaces "
            f"({', '.join(foreign[:5])}); an operator run with -A would act on them. Use an "
            "environment of your own (DBINDEX_LOCAL_DIR=/tmp/bench-env make bench) or set "
            "BENCH_OPERATOR_NAMESPACES='bench-*'"
        )


def _clean_leftovers(kube: Kube, admin: str, say: Callable[[str], None]) -> None:
    """Namespaces and databases left by an interrupted run (no operator runs now to release
    the finalizers, so they are stripped first)."""
    leftovers = kube.bench_namespaces()
    if leftovers:
        say(f"removing leftovers of an earlier run: {', '.join(leftovers)}")
        kube.strip_finalizers(leftovers)
        kube.delete_namespaces(leftovers, timeout=600)
    dropped = cluster.drop_bench_databases(admin)
    if dropped:
        say(f"dropped leftover databases: {', '.join(dropped)}")
