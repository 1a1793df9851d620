"""The copyable examples (examples/*.yaml) on the real API server, and `make demo` (hack/demo.sh).
What needs no server is in tests/unit/test_demo.py."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.harness.env import REPO_ROOT
from tests.harness.kube import Kubectl
from tests.unit.test_demo import EXAMPLES, documents

SEED = REPO_ROOT / "examples" / "seed"


# --- against the real API server ---------------------------------------------------------------


@pytest.mark.parametrize(
    "path", [*EXAMPLES, SEED / "indexes.yaml", SEED / "secret.yaml"], ids=lambda p: p.name
)
def test_example_applies_with_server_dry_run(
    path: Path, kubectl: Kubectl, crd: str, namespace: str
) -> None:
    result = kubectl("apply", "--dry-run=server", "-n", namespace, "-f", str(path))
    created = result.stdout.count("created (server dry run)")
    assert created == len(documents(path)), result.stdout + result.stderr
    assert kubectl("get", "dbindex", "-n", namespace, "-o", "name").stdout.strip() == ""


# --- make demo -----------------------------------------------------------------------------------


def _processes_mentioning(text: str) -> list[str]:
    """Live processes whose command line or environment contains ``text``."""
    found = []
    needle = text.encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            status = (entry / "status").read_text()
            if re.search(r"^State:\s+Z", status, re.M):
                continue  # a zombie holds no resources; its parent will reap it
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if needle in cmdline or needle in environ:
            command = cmdline.replace(b"\0", b" ").decode(errors="replace")
            found.append(f"{entry.name}: {command}")
    return found


def _alive(pid: int, name: str) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return not re.search(r"^State:\s+Z", status, re.M) and name.encode() in cmdline


@pytest.mark.integration
def test_make_demo_runs_to_completion_and_leaves_nothing_running(tmp_path: Path) -> None:
    """`make demo` on a small scale, in a private environment (its own control plane and
    PostgreSQL, which it starts and must stop again)."""
    state_dir = tmp_path / "demo-env"
    env = {
        # Not the settings of an enclosing `make test` either: MAKELEVEL would make this make
        # print "Leaving directory" after the demo's own last line.
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("DEMO_", "DBINDEX_", "MAKE", "MFLAGS"))
        },
        "DBINDEX_LOCAL_DIR": str(state_dir),
        "DEMO_SCALE": "2000",
    }
    # Output to files, not pipes: processes the demo starts inherit them, and a pipe one of them
    # still held after a failed demo would keep pytest waiting for its end forever.
    out, err = tmp_path / "demo.out", tmp_path / "demo.err"
    try:
        with out.open("w") as stdout, err.open("w") as stderr:
            returncode: int = subprocess.run(
                ["make", "--no-print-directory", "demo"],
                cwd=REPO_ROOT,
                env=env,
                stdout=stdout,
                stderr=stderr,
                timeout=1200,
            ).returncode
    except subprocess.TimeoutExpired:
        returncode = -1  # killed after its 1,200 s
    result = subprocess.CompletedProcess([], returncode, out.read_text(), err.read_text())
    output = result.stdout + result.stderr
    if result.returncode != 0:
        # Whatever it left running goes now, so that it cannot disturb the rest of the suite.
        cleanup = subprocess.run(
            [str(REPO_ROOT / "hack" / "down.sh")],
            env={**env, "DBINDEX_LOCAL_DIR": str(state_dir)},
            capture_output=True,
            text=True,
            timeout=300,
        )
        pytest.fail(f"make demo: exit {result.returncode}\n{output[-20000:]}\n{cleanup.stdout}")

    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert lines[-1] == "demo: 12/12 indexes valid", output
    summary = result.stdout[result.stdout.index("SAME AS PSQL") :]
    rows = [line.split() for line in summary.splitlines()[1:13]]
    assert [row[2] for row in rows] == ["yes"] * 12, summary  # VALID
    assert [row[-1] for row in rows] == ["yes"] * 12, summary  # same pg_get_indexdef as psql
    assert "environment stopped (the demo started it)" in result.stdout

    # Nothing it started is left: the operator, etcd, kube-apiserver, kube-controller-manager,
    # PostgreSQL (each by its recorded PID), nor any process that refers to the state directory.
    operator = re.search(r"operator running \(pid (\d+)", output)
    down = re.search(r"\[down\] stopped (.*);", output)
    assert operator and down, output
    stopped = dict(re.findall(r"([a-z-]+)\((\d+)\)", down.group(1)))
    assert set(stopped) == {"postgres", "etcd", "kube-apiserver", "kube-controller-manager"}
    for name, pid in [("dbindex-operator", operator.group(1)), *stopped.items()]:
        assert not _alive(int(pid), name), f"{name} (pid {pid}) is still running"
    assert _processes_mentioning(str(state_dir)) == []
    assert not state_dir.exists() or not any(state_dir.iterdir())
