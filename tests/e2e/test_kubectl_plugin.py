"""`kubectl dbindex` end to end: the real kubectl finds the plugin on PATH (the venv's bin, where
`pip install` puts the kubectl-dbindex console script) and runs it against the real API server
while the real operator builds indexes in PostgreSQL. Output is not a terminal here, so status
prints plain text (the rich view is for TTYs)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import (
    SLOW_BUILD,
    Kube,
    Target,
    connection,
    index_facts,
    is_ready,
    sql,
)
from tests.harness.env import REPO_ROOT

FAST_RETRY = {"maxAttempts": 10, "initialBackoffSeconds": 1, "maxBackoffSeconds": 2}
# An expression key costs an md5 per row in the build's scan: a build of several seconds even on
# a fast machine, so the plugin is seen mid-build more than once.
SLOW_KEY = [{"expression": "md5(k || id::text)"}]
# Two of them: a build of >= 20 s on this kind of machine, for the ETA-quality record.
SLOWER_KEYS = [{"expression": "md5(k || id::text)"}, {"expression": "md5(id::text || k)"}]
PERCENT = re.compile(r"\s(\d+)%\s")
ETA_REPORT = REPO_ROOT / "bench" / "results" / "eta.json"


@pytest.fixture(scope="session")
def plugin_env(local_env: dict[str, str]) -> dict[str, str]:
    """The environment with the venv's bin first on PATH: kubectl finds kubectl-dbindex there."""
    venv_bin = Path(sys.executable).parent
    assert (venv_bin / "kubectl-dbindex").is_file(), "pip install -e . puts it there"
    return {**local_env, "PATH": f"{venv_bin}:{local_env['PATH']}"}


def dbindex(
    env: dict[str, str], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`kubectl dbindex ARGS` through kubectl's own plugin discovery."""
    return subprocess.run(
        ["kubectl", "dbindex", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def percent_of(output: str, name: str) -> int | None:
    for line in output.splitlines():
        if line.split()[:1] == [name]:
            found = PERCENT.search(line)
            return int(found.group(1)) if found else None
    return None


def test_kubectl_finds_the_plugin(plugin_env: dict[str, str]) -> None:
    listed = subprocess.run(
        ["kubectl", "plugin", "list"], env=plugin_env, capture_output=True, text=True, timeout=60
    )
    assert "kubectl-dbindex" in listed.stdout, listed.stdout + listed.stderr
    usage = dbindex(plugin_env, "--help")
    assert usage.returncode == 0 and "kubectl dbindex" in usage.stdout


def test_status_during_a_build_shows_a_rising_percent(
    big_db: Target, kube: Kube, plugin_env: dict[str, str]
) -> None:
    ns = big_db.namespace
    kube.create(
        ns, "big-md5", {"connection": connection(), "table": "big", "columns": SLOW_KEY,
                        "build": SLOW_BUILD},
    )  # fmt: skip
    kube.wait(ns, "big-md5", lambda s: s.get("phase") == "Building", timeout=120)
    seen: list[int] = []
    documents: list[dict[str, Any]] = []
    outputs: list[str] = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        result = dbindex(plugin_env, "status", "-n", ns)
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout)
        found = percent_of(result.stdout, "big-md5")
        if found is not None:
            seen.append(found)
        as_json = dbindex(plugin_env, "status", "-n", ns, "-o", "json")
        assert as_json.returncode == 0, as_json.stderr
        documents.append(json.loads(as_json.stdout))
        if found == 100:
            break
    running = [p for p in seen if 0 < p < 100]
    assert seen[-1] == 100, outputs[-1]
    assert len(set(running)) >= 2, f"want two different percents mid-build, saw {seen}"
    assert seen == sorted(seen), f"the percent went backwards: {seen}"
    header = outputs[0].splitlines()[0].split()
    assert header[:3] == ["NAME", "PHASE", "PROGRESS"] and header[-1] == "ETA"
    mid = [d["items"][0] for d in documents if d["items"][0]["phase"] == "Building"]
    assert mid and all(isinstance(item["percent"], int) for item in mid)
    assert any(item["postgresPhase"] for item in mid)
    assert documents[-1]["items"][0]["phase"] == "Ready"
    assert documents[-1]["items"][0]["etaSeconds"] is None


def test_watch_exits_0_at_ready_and_1_at_failed_and_retry_heals(
    db: Target, kube: Kube, plugin_env: dict[str, str]
) -> None:
    ns = db.namespace
    sql(db.dsn, "CREATE TABLE t (id int, email text)")
    sql(db.dsn, "INSERT INTO t SELECT g, 'u' || (g % 500) FROM generate_series(1, 5000) g")
    kube.create(
        ns, "t-id", {"connection": connection(), "table": "t", "columns": [{"column": "id"}]}
    )
    watched = dbindex(plugin_env, "status", "-n", ns, "--watch", "--interval", "0.5")
    assert watched.returncode == 0, watched.stdout + watched.stderr
    assert watched.stdout.splitlines()[-1].split()[:2] == ["t-id", "Ready"]

    kube.create(
        ns, "t-email", {"connection": connection(), "table": "t", "unique": True,
                        "columns": [{"column": "email"}], "retry": FAST_RETRY},
    )  # fmt: skip
    watched = dbindex(plugin_env, "status", "-n", ns, "-w", "-o", "json", "--interval", "0.5")
    assert watched.returncode == 1, watched.stdout + watched.stderr
    last = json.loads(watched.stdout.splitlines()[-1])
    phases = {item["name"]: item["phase"] for item in last["items"]}
    assert phases == {"t-id": "Ready", "t-email": "Failed"}

    described = dbindex(plugin_env, "describe", "t-email", "-n", ns)
    assert described.returncode == 0, described.stderr
    text = described.stdout
    assert "SQLSTATE 23505" in text and "Remove the duplicates" in text
    assert "BuildFailed" in text  # the events
    assert "CREATE UNIQUE INDEX CONCURRENTLY t_email ON public.t USING btree (email);" in text

    # Fix the data, retry through the plugin: a new annotation value, a new series of attempts.
    sql(db.dsn, "DELETE FROM t a USING t b WHERE a.email = b.email AND a.ctid > b.ctid")
    retried = dbindex(plugin_env, "retry", "t-email", "-n", ns)
    assert retried.returncode == 0, retried.stderr
    token = kube.get(ns, "t-email")["metadata"]["annotations"]["dbindex.dev/retry"]
    assert token in retried.stdout
    # Right after retry the object is still Failed, but for the old request: --watch waits.
    watched = dbindex(plugin_env, "status", "-n", ns, "--watch", "--interval", "0.5")
    assert watched.returncode == 0, watched.stdout + watched.stderr
    status = kube.status(ns, "t-email")
    assert status["phase"] == "Ready" and status["retryToken"] == token
    assert index_facts(db.dsn, "t_email")["valid"]  # type: ignore[index]


def test_pause_and_resume(db: Target, kube: Kube, plugin_env: dict[str, str]) -> None:
    ns = db.namespace
    sql(db.dsn, "CREATE TABLE p (id int)")
    kube.create(
        ns, "p-id", {"connection": connection(), "table": "p", "columns": [{"column": "id"}],
                     "paused": True},
    )  # fmt: skip
    kube.wait_phase(ns, "p-id", "Paused", timeout=120)
    described = dbindex(plugin_env, "describe", "p-id", "-n", ns).stdout
    assert "SQL it will run when unpaused (Build)" in described
    assert "CREATE INDEX CONCURRENTLY p_id ON public.p USING btree (id);" in described
    assert dbindex(plugin_env, "resume", "p-id", "-n", ns).returncode == 0
    kube.wait(ns, "p-id", is_ready, timeout=120)
    assert dbindex(plugin_env, "pause", "p-id", "-n", ns).returncode == 0
    assert kube.get(ns, "p-id")["spec"]["paused"] is True


def test_import_and_plan_are_plugin_subcommands(tmp_path: Path, plugin_env: dict[str, str]) -> None:
    migration = tmp_path / "001_users.sql"
    migration.write_text("CREATE INDEX users_email ON users (email);\n")
    imported = dbindex(plugin_env, "import", str(migration), "--namespace", "app")
    assert imported.returncode == 0, imported.stderr
    assert "kind: DatabaseIndex" in imported.stdout and "users_email" in imported.stdout
    usage = dbindex(plugin_env, "plan", "--help")
    assert usage.returncode == 0 and "--from-cluster" in usage.stdout


def _aged_eta(progress: dict[str, Any], now: float) -> float | None:
    """etaSeconds as of `now` (wall clock): the operator wrote it at progress.updatedAt."""
    from dbindex_operator.tools.kubectl_plugin import rendering

    eta = progress.get("etaSeconds")
    written = rendering.parse_time(progress.get("updatedAt"))
    if eta is None or written is None:
        return None
    return float(eta) - max(now - written.timestamp(), 0.0)


def test_eta_exists_and_decreases_during_a_long_build(
    big_db: Target, kube: Kube, plugin_env: dict[str, str]
) -> None:
    """Records ETA against the actual remaining time (bench/results/eta.json, docs/eta.md);
    asserts only that an ETA is there and goes down."""
    ns = big_db.namespace
    kube.create(
        ns, "big-eta", {"connection": connection(), "table": "big", "columns": SLOWER_KEYS,
                        "build": SLOW_BUILD},
    )  # fmt: skip
    samples: list[dict[str, Any]] = []
    started = None
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        status = kube.status(ns, "big-eta")
        now = time.time()
        if status.get("phase") == "Building":
            started = started or now
            progress = status.get("progress") or {}
            samples.append(
                {"at": now, "phase": progress.get("phase"), "percent": progress.get("percent"),
                 "eta": _aged_eta(progress, now)}
            )  # fmt: skip
        facts = index_facts(big_db.dsn, "big_eta")
        if facts is not None and facts["valid"]:
            break
        time.sleep(0.5)
    ended = time.time()
    assert started is not None
    with_eta = [s for s in samples if s["eta"] is not None]
    for sample in samples:
        sample["actual"] = ended - sample["at"]
    record = {
        "build_seconds": round(ended - started, 1),
        "samples": [
            {
                "elapsed": round(s["at"] - started, 1),
                "phase": s["phase"],
                "percent": s["percent"],
                "eta": None if s["eta"] is None else round(s["eta"], 1),
                "actual": round(s["actual"], 1),
            }
            for s in samples
        ],
    }
    ETA_REPORT.parent.mkdir(parents=True, exist_ok=True)
    ETA_REPORT.write_text(json.dumps(record, indent=1) + "\n")
    assert len(with_eta) >= 3, f"an ETA at several points, got {record}"
    assert with_eta[-1]["eta"] < with_eta[0]["eta"], record
    assert kube.wait(ns, "big-eta", is_ready, timeout=120)["progress"].get("etaSeconds") is None
