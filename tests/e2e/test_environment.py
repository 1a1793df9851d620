"""The local test environment itself: hack/up.sh, hack/down.sh and the shared fixtures.

The lifecycle test starts a SECOND, independent environment in a temporary directory (via
DBINDEX_LOCAL_DIR), so the environment the rest of the suite uses is never disturbed. The other
tests use the main environment through the fixtures in tests/conftest.py.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg
import pytest

from tests.harness.env import REPO_ROOT, read_env_file
from tests.harness.kube import Kubectl

pytestmark = pytest.mark.integration

PROCESSES = {"etcd", "kube-apiserver", "kube-controller-manager", "postgres"}


def run_script(name: str, env: dict[str, str], timeout: float = 900) -> str:
    """Run hack/<name>; assert it succeeds; return its combined output."""
    result = subprocess.run(
        [str(REPO_ROOT / "hack" / name)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, f"hack/{name} exited {result.returncode}:\n{result.stdout}"
    return result.stdout


def recorded_pids(state_dir: Path) -> dict[str, int]:
    return {p.name: int(p.read_text()) for p in (state_dir / "pids").iterdir()}


def process_exists(pid: int) -> bool:
    """True if /proc lists PID as a process that is not a zombie."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return "\nState:\tZ" not in status


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f}s waiting for {what}"
        time.sleep(0.2)


def assert_answers(env: dict[str, str]) -> None:
    """The API server says /readyz ok with the admin cert, and PostgreSQL runs a query."""
    readyz = subprocess.run(
        ["kubectl", "get", "--raw", "/readyz"], env=env, capture_output=True, text=True, timeout=30
    )
    assert readyz.returncode == 0, readyz.stderr
    assert readyz.stdout.strip() == "ok"

    async def query() -> int:
        conn = await asyncpg.connect(env["PGURL"])
        try:
            return int(await conn.fetchval("SELECT 1"))
        finally:
            await conn.close()

    assert asyncio.run(query()) == 1


@pytest.fixture
def second_env(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """A state directory for a second environment; hack/down.sh always runs at teardown.

    tmp_path sits under a 0700 directory the postgres user cannot enter, which also exercises
    up.sh's fallback of keeping PostgreSQL's files in /tmp behind a pg/ symlink.
    """
    state_dir = tmp_path / "env"
    env = {**os.environ, "DBINDEX_LOCAL_DIR": str(state_dir)}
    for leaked in ("KUBECONFIG", "PGURL", "PGHOST", "PGPORT"):
        env.pop(leaked, None)
    yield state_dir, env
    subprocess.run([str(REPO_ROOT / "hack" / "down.sh")], env=env, capture_output=True, timeout=120)


def test_up_is_idempotent_restarts_after_a_crash_and_down_leaves_nothing(
    second_env: tuple[Path, dict[str, str]],
) -> None:
    state_dir, env = second_env

    run_script("up.sh", env)
    first = recorded_pids(state_dir)
    assert set(first) == PROCESSES
    assert all(process_exists(pid) for pid in first.values())
    used = read_env_file(state_dir / "env", env)
    assert used["KUBECONFIG"] == str(state_dir / "kubeconfig")
    assert used["DBINDEX_LOCAL_DIR"] == str(state_dir)
    assert Path(used["PATH"].split(":")[0], "kubectl").resolve().name.startswith("kubectl-")
    assert_answers(used)

    # Up again: a no-op that keeps the same processes.
    output = run_script("up.sh", env, timeout=120)
    assert "already up" in output
    assert recorded_pids(state_dir) == first
    assert_answers(read_env_file(state_dir / "env", env))

    # A dead process: up restarts the environment cleanly.
    os.kill(first["etcd"], signal.SIGKILL)
    wait_until(lambda: not process_exists(first["etcd"]), 10, "etcd to die")
    run_script("up.sh", env)
    second = recorded_pids(state_dir)
    assert set(second) == PROCESSES
    assert not set(second.values()) & set(first.values())
    assert not any(process_exists(pid) for pid in first.values())
    used = read_env_file(state_dir / "env", env)
    assert_answers(used)
    pg_files = (state_dir / "pg").resolve()
    assert pg_files.is_dir()

    # Down: every recorded process is gone, and so is the runtime data.
    run_script("down.sh", env, timeout=120)
    wait_until(
        lambda: not any(process_exists(pid) for pid in second.values()), 10, "processes to exit"
    )
    assert not pg_files.exists()
    assert not state_dir.exists() or not any(state_dir.iterdir())

    # Down again: harmless.
    run_script("down.sh", env, timeout=60)


def test_concurrent_ups_start_one_environment(second_env: tuple[Path, dict[str, str]]) -> None:
    """Two engineers (or test sessions) running up.sh at once share one environment."""
    state_dir, env = second_env
    script = str(REPO_ROOT / "hack" / "up.sh")
    ups = [
        subprocess.Popen(
            [script], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for _ in range(2)
    ]
    outputs = [up.communicate(timeout=300)[0] for up in ups]
    assert [up.returncode for up in ups] == [0, 0], outputs
    assert sum("already up" in output for output in outputs) == 1, outputs

    pids = recorded_pids(state_dir)
    assert all(process_exists(pid) for pid in pids.values())
    for name, flag in [
        ("etcd", f"--data-dir {state_dir}/etcd "),
        ("kube-apiserver", f"--tls-cert-file {state_dir}/pki/apiserver.crt "),
    ]:
        running = [pid for pid, cmdline in _processes() if flag in cmdline]
        assert running == [pids[name]], f"{name}: {running} running, {pids[name]} recorded"


def _processes() -> list[tuple[int, str]]:
    """(PID, command line) of every live process."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or not process_exists(int(entry.name)):
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        found.append((int(entry.name), cmdline))
    return found


def test_rbac_forbids_a_serviceaccount_what_it_was_not_granted(
    kubectl: Kubectl, namespace: str, local_env: dict[str, str]
) -> None:
    kubectl("create", "serviceaccount", "probe", "-n", namespace)
    token = kubectl("create", "token", "probe", "-n", namespace).stdout.strip()
    as_sa = (
        "--kubeconfig",
        os.devnull,
        "--server",
        local_env["DBINDEX_APISERVER_URL"],
        "--certificate-authority",
        local_env["DBINDEX_CA_CERT"],
        "--token",
        token,
    )
    username = f"system:serviceaccount:{namespace}:probe"
    whoami = kubectl(*as_sa, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
    assert whoami.stdout == username

    denied = kubectl(*as_sa, "get", "secrets", "-n", namespace, check=False)
    assert denied.returncode != 0
    assert "Forbidden" in denied.stderr and username in denied.stderr

    # Granted by a Role, the same request succeeds: RBAC decides, not a blanket denial.
    kubectl("create", "role", "read-secrets", "--verb=list", "--resource=secrets", "-n", namespace)
    kubectl(
        "create",
        "rolebinding",
        "read-secrets",
        "--role=read-secrets",
        f"--serviceaccount={namespace}:probe",
        "-n",
        namespace,
    )
    wait_until(
        lambda: kubectl(*as_sa, "get", "secrets", "-n", namespace, check=False).returncode == 0,
        15,
        "the RoleBinding to take effect",
    )


def test_deleted_namespace_disappears(kubectl: Kubectl) -> None:
    name = f"t-gone-{uuid.uuid4().hex[:8]}"
    kubectl("create", "namespace", name)
    kubectl("create", "configmap", "content", "-n", name, "--from-literal=k=v")
    kubectl("delete", "namespace", name, "--wait=false")
    wait_until(
        lambda: kubectl("get", "namespace", name, check=False).returncode != 0,
        30,
        f"namespace {name} to be deleted by kube-controller-manager",
    )


def test_garbage_collector_deletes_dependents(kubectl: Kubectl, namespace: str) -> None:
    kubectl("create", "configmap", "owner", "-n", namespace)
    uid = kubectl("get", "configmap", "owner", "-n", namespace, "-o", "jsonpath={.metadata.uid}")
    dependent = f"""
apiVersion: v1
kind: ConfigMap
metadata:
  name: dependent
  namespace: {namespace}
  ownerReferences:
  - {{apiVersion: v1, kind: ConfigMap, name: owner, uid: {uid.stdout}}}
"""
    kubectl("apply", "-f", "-", input=dependent)
    kubectl("delete", "configmap", "owner", "-n", namespace)
    wait_until(
        lambda: (
            kubectl("get", "configmap", "dependent", "-n", namespace, check=False).returncode != 0
        ),
        30,
        "the garbage collector to delete the dependent",
    )


def test_database_fixture_gives_a_fresh_database_on_the_local_server(database: str) -> None:
    async def inspect() -> tuple[str, str, str]:
        conn = await asyncpg.connect(database)
        try:
            row = await conn.fetchrow(
                "SELECT current_database(), current_setting('max_connections'),"
                " current_setting('client_connection_check_interval')"
            )
            assert row is not None
            return row[0], row[1], row[2]
        finally:
            await conn.close()

    name, max_connections, check_interval = asyncio.run(inspect())
    assert name.startswith("t_")
    assert max_connections == "300"
    assert check_interval == "0"  # the operator sets it per session, not the server
