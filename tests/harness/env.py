"""The local environment started by hack/up.sh, described by ``$DBINDEX_LOCAL_DIR/env``."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
"""The repository root (where Makefile, hack/ and crds/ are)."""


def hack_path(script: str, *args: str, timeout: float = 900) -> Path:
    """Run `hack/<script> args...`, which installs or fetches something once per machine and
    prints where it is; that path. HarnessError with the script's output when it fails."""
    from tests.harness import HarnessError

    result = subprocess.run(
        [str(REPO_ROOT / "hack" / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise HarnessError(f"hack/{script} failed:\n{result.stdout}{result.stderr[-4000:]}")
    return Path(result.stdout.strip().splitlines()[-1])


REQUIRED = ("KUBECONFIG", "PGURL")
"""What an environment dict must set to describe a running environment."""


def state_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The state directory: ``DBINDEX_LOCAL_DIR`` (of ``environ``, default ``os.environ``), else
    ``<repo>/.local``, as hack/lib.sh chooses it."""
    environ = os.environ if environ is None else environ
    return Path(environ.get("DBINDEX_LOCAL_DIR") or REPO_ROOT / ".local").absolute()


def read_env_file(
    env_file: Path, base: Mapping[str, str] | None = None, *, hint: str = "make up"
) -> dict[str, str]:
    """Source ``env_file`` in bash on top of ``base`` (default: ``os.environ``); return the result.

    Sourcing (rather than parsing) keeps ``PATH=...:$PATH`` and quoting exactly as a shell sees
    it. A missing file raises FileNotFoundError that says how to start the environment (`hint`).
    """
    if not env_file.is_file():
        raise FileNotFoundError(f"{env_file} does not exist: start the environment first ({hint})")
    result = subprocess.run(
        ["bash", "-c", 'set -e; . "$1"; env -0', "bash", str(env_file)],
        env=dict(os.environ if base is None else base),
        capture_output=True,
        check=True,
    )
    pairs = (item.split(b"=", 1) for item in result.stdout.split(b"\0") if b"=" in item)
    return {key.decode(): value.decode() for key, value in pairs}


def load(environ: Mapping[str, str] | None = None, *, hint: str = "make up") -> dict[str, str]:
    """The environment to run against: ``environ`` itself if it already describes one (KUBECONFIG
    and PGURL set), else ``$DBINDEX_LOCAL_DIR/env`` sourced on top of it (default: os.environ,
    which is always sourced on)."""
    base = dict(os.environ if environ is None else environ)
    if environ is not None and all(base.get(key) for key in REQUIRED):
        return base
    return read_env_file(state_dir(base) / "env", base, hint=hint)
