"""Shared pytest fixtures: the local control plane and PostgreSQL started by ``hack/up.sh``.

Tests live by tier: ``tests/unit/`` is pure (no environment); ``tests/e2e/`` runs against the
local environment (``tests/e2e/conftest.py`` adds the operator under test). The code that reaches
the environment is ``tests/harness/``, shared with the benchmarks (``bench/``).

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
``pg_url`` (session)
    The PostgreSQL superuser DSN (``postgresql://postgres@127.0.0.1:<port>/postgres``).
``database`` (function)
    A fresh database ``t_<random>``; its DSN is yielded, and it is dropped ``WITH (FORCE)``.

A fresh namespace per test is ``namespace`` in ``tests/e2e/conftest.py``; ``new_namespace``
below makes one with any prefix.

Any test that uses ``local_env`` (directly or through the fixtures above) is marked
``integration`` automatically, so ``pytest -m 'not integration'`` runs the pure tests alone.
pytest-asyncio is not used: async code runs with ``asyncio.run(...)`` inside a sync test.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from tests.harness import env, kube, pg
from tests.harness.env import REPO_ROOT, read_env_file
from tests.harness.kube import CRD_NAME, Kubectl
from tests.harness.pg import with_database

__all__ = ["CRD_NAME", "REPO_ROOT", "Kubectl", "new_namespace", "read_env_file", "with_database"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that needs the local environment as ``integration``."""
    for item in items:
        if "local_env" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def local_env() -> dict[str, str]:
    """The environment of the running local control plane and PostgreSQL (see module doc)."""
    state_dir = env.state_dir()
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

    Text mode, output captured. With ``check=True`` (default) a non-zero exit raises an error
    that shows the command, stdout and stderr.
    """

    def run(
        *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        return kube.kubectl(local_env, *args, input=input, check=check, timeout=timeout)

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


@contextlib.contextmanager
def new_namespace(kubectl: Kubectl, prefix: str) -> Iterator[str]:
    """A new namespace named ``<prefix><random>``; deleted afterwards without waiting for it."""
    name = f"{prefix}{uuid.uuid4().hex[:10]}"
    kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


@pytest.fixture(scope="session")
def pg_url(local_env: dict[str, str]) -> str:
    """The PostgreSQL superuser DSN of the local environment."""
    return local_env["PGURL"]


@pytest.fixture
def database(pg_url: str) -> Iterator[str]:
    """A new, empty database ``t_<random>``; yields its DSN; dropped ``WITH (FORCE)`` after."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    pg.execute(pg_url, f'CREATE DATABASE "{name}"')
    yield with_database(pg_url, name)
    pg.execute(pg_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
