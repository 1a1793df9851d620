"""The local environment the bench runs against, and facts about the machine for the results.

The caller chooses the environment: an env dict (e.g. the ``local_env`` test fixture), or the
sourceable ``$DBINDEX_LOCAL_DIR/env`` written by hack/up.sh (default ``<repo>/.local``).
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
REQUIRED = ("KUBECONFIG", "PGURL")


def state_dir(environ: dict[str, str] | None = None) -> Path:
    environ = dict(os.environ if environ is None else environ)
    return Path(environ.get("DBINDEX_LOCAL_DIR") or REPO_ROOT / ".local").absolute()


def read_env_file(env_file: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """Source ``env_file`` in bash on top of ``base`` (default: os.environ); return the result."""
    if not env_file.is_file():
        raise FileNotFoundError(
            f"{env_file} does not exist: start the environment first "
            f"(PG_FSYNC=on hack/up.sh, or make bench, which does it)"
        )
    result = subprocess.run(
        ["bash", "-c", 'set -e; . "$1"; env -0', "bash", str(env_file)],
        env=dict(os.environ if base is None else base),
        capture_output=True,
        check=True,
    )
    pairs = (item.split(b"=", 1) for item in result.stdout.split(b"\0") if b"=" in item)
    return {key.decode(): value.decode() for key, value in pairs}


def load(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment to run against: `environ` if it already describes one (KUBECONFIG and
    PGURL set), else `$DBINDEX_LOCAL_DIR/env` sourced on top of it."""
    base = dict(os.environ if environ is None else environ)
    if all(base.get(key) for key in REQUIRED) and environ is not None:
        return base
    return read_env_file(state_dir(base) / "env", base)


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def machine_facts() -> dict[str, Any]:
    return {
        "cores": cores(),
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_mb": _memory_mb(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "executable": sys.executable,
    }


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _memory_mb() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    except OSError:
        pass
    return None
