"""Shared pytest fixtures: the local control plane and PostgreSQL started by ``hack/up.sh``.

The local environment (see ``hack/up.sh`` and README.md) is described by a sourceable file,
``$DBINDEX_LOCAL_DIR/env`` (default ``<repo>/.local/env``). ``make test`` starts the environment
before pytest and stops it afterwards; running ``pytest`` alone starts it once if that file is
missing (and leaves it running: ``make down`` stops it).

Fixtures, from the bottom up:

``local_env`` (session)
    ``dict[str, str]``: the process environment with ``env`` sourced: ``KUBECONFIG``, ``PGURL``,
    ``PGHOST``/``PGPORT``/``PGUSER``, ``PATH`` (kubectl and helm matching the server first),
    ``DBINDEX_LOCAL_DIR``, ``K8S_VERSION``, ``DBINDEX_APISERVER_URL``, ... Pass it as ``env=`` to
    any subprocess that must talk to the environment.
``kubectl`` (session)
    ``kubectl(*args, input=None, check=True, timeout=60) -> CompletedProcess[str]``.
``crd`` (session)
    Applies ``crds/`` and waits until the DatabaseIndex CRD is Established.
``namespace`` (function)
    A fresh, uniquely named namespace; deleted (without waiting) at teardown.
``pg_url`` (session)
    The PostgreSQL superuser DSN (``postgresql://postgres@127.0.0.1:<port>/postgres``).
``database`` (function)
    A fresh database ``t_<random>``; its DSN is yielded, and it is dropped ``WITH (FORCE)``.

Any test that uses ``local_env`` (directly or through the fixtures above) is marked
``integration`` automatically, so ``pytest -m 'not integration'`` runs the pure tests alone.
pytest-asyncio is not used: async code runs with ``asyncio.run(...)`` inside a sync test.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
"""The repository root (where Makefile, hack/ and crds/ are)."""

CRD_NAME = "databaseindexes.dbindex.dev"


class Kubectl(Protocol):
    """The type of the ``kubectl`` fixture."""

    def __call__(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]: ...


def local_state_dir() -> Path:
    """The state directory of the environment the tests use (``DBINDEX_LOCAL_DIR``)."""
    return Path(os.environ.get("DBINDEX_LOCAL_DIR", REPO_ROOT / ".local")).absolute()


def read_env_file(env_file: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """Source ``env_file`` in bash on top of ``base`` (default: ``os.environ``); return the result.

    Sourcing (rather than parsing) keeps ``PATH=...:$PATH`` and quoting exactly as a shell sees it.
    """
    result = subprocess.run(
        ["bash", "-c", 'set -e; . "$1"; env -0', "bash", str(env_file)],
        env=dict(os.environ if base is None else base),
        capture_output=True,
        check=True,
    )
    pairs = (item.split(b"=", 1) for item in result.stdout.split(b"\0") if b"=" in item)
    return {key.decode(): value.decode() for key, value in pairs}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that needs the local environment as ``integration``."""
    for item in items:
        if "local_env" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def local_env() -> dict[str, str]:
    """The environment of the running local control plane and PostgreSQL (see module doc)."""
    state_dir = local_state_dir()
    env_file = state_dir / "env"
    if not env_file.exists():
        up = subprocess.run(
            [str(REPO_ROOT / "hack" / "up.sh")],
            env={**os.environ, "DBINDEX_LOCAL_DIR": str(state_dir)},
            capture_output=True,
            text=True,
            timeout=1200,
        )
        if up.returncode != 0:
            pytest.fail(f"hack/up.sh failed ({up.returncode}):\n{up.stdout}\n{up.stderr}")
    return read_env_file(env_file)


@pytest.fixture(scope="session")
def kubectl(local_env: dict[str, str]) -> Kubectl:
    """Run the kubectl matching the server against the local API server (admin credentials).

    Text mode, output captured. With ``check=True`` (default) a non-zero exit raises an
    ``AssertionError`` that shows the command, stdout and stderr.
    """

    def run(
        *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["kubectl", *args],
            env=local_env,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"kubectl {shlex.join(args)} exited {result.returncode}\n"
                f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
            )
        return result

    return run


@pytest.fixture(scope="session")
def crd(kubectl: Kubectl) -> str:
    """Install the project's CRDs from ``crds/``; return the DatabaseIndex CRD's name."""
    crds_dir = REPO_ROOT / "crds"
    assert crds_dir.is_dir(), f"{crds_dir} is missing: the CRD manifests live there"
    # Client-side apply, as users (and the deploy tests) do: mixing in server-side apply would
    # make later `kubectl apply` runs warn about a missing last-applied annotation.
    kubectl("apply", "-f", str(crds_dir))
    kubectl("wait", "--for=condition=Established", "--timeout=60s", f"crd/{CRD_NAME}")
    return CRD_NAME


@pytest.fixture
def namespace(kubectl: Kubectl) -> Iterator[str]:
    """A new namespace named ``t-<random>``; deleted at teardown without waiting for it."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    kubectl("create", "namespace", name)
    yield name
    kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


@pytest.fixture(scope="session")
def pg_url(local_env: dict[str, str]) -> str:
    """The PostgreSQL superuser DSN of the local environment."""
    return local_env["PGURL"]


def with_database(url: str, dbname: str) -> str:
    """``url`` with its database (the path) replaced by ``dbname``."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{dbname}"))


async def _execute(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture
def database(pg_url: str) -> Iterator[str]:
    """A new, empty database ``t_<random>``; yields its DSN; dropped ``WITH (FORCE)`` after."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    asyncio.run(_execute(pg_url, f'CREATE DATABASE "{name}"'))
    yield with_database(pg_url, name)
    asyncio.run(_execute(pg_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
