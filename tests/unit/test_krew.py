"""plugins/krew: the manifest names an archive that archive.py builds byte for byte, whose
launcher runs the plugin."""

from __future__ import annotations

import importlib.util
import io
import os
import subprocess
import sys
import tarfile
import tomllib

import yaml

from tests.harness.env import REPO_ROOT

KREW = REPO_ROOT / "plugins" / "krew"
_spec = importlib.util.spec_from_file_location("krew_archive", KREW / "archive.py")
assert _spec is not None and _spec.loader is not None
archive = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(archive)


def manifest() -> dict:  # type: ignore[type-arg]
    loaded: dict = yaml.safe_load((KREW / "dbindex.yaml").read_text())  # type: ignore[type-arg]
    return loaded


def test_manifest_shape_and_version() -> None:
    plugin = manifest()
    assert plugin["apiVersion"] == "krew.googlecontainertools.github.com/v1alpha2"
    assert plugin["kind"] == "Plugin" and plugin["metadata"]["name"] == "dbindex"
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert plugin["spec"]["version"] == f"v{project['version']}"
    assert "kubectl-dbindex" in project["scripts"]


def test_archive_is_reproducible_and_matches_the_manifest() -> None:
    first, second = archive.build(), archive.build()
    assert first == second
    [platform] = manifest()["spec"]["platforms"]
    assert platform["sha256"] == archive.sha256(), "run plugins/krew/archive.py, update the sha"
    with tarfile.open(fileobj=io.BytesIO(first)) as tar:
        names = tar.getnames()
        assert platform["bin"] in names
        assert all(f["from"] in names for f in platform["files"])
        assert tar.getmember(platform["bin"]).mode & 0o111


def test_launcher_runs_the_plugin() -> None:
    result = subprocess.run(
        [str(KREW / "kubectl-dbindex"), "--help"],
        env={**os.environ, "DBINDEX_PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "usage: kubectl dbindex" in result.stdout
