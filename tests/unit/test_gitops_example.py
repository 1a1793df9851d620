"""examples/gitops/: the indexes are ordered before the app, in Argo CD (sync waves) and in Flux
(dependsOn + health checks), and the app's migration creates the same index. Pure: the
kustomizations are resolved here (they use only `resources` and `namespace`, which this test
insists on), so no kubectl is needed; `kubectl kustomize examples/gitops` renders the same."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from dbindex_operator.core import spec as specs
from dbindex_operator.tools import importing

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "gitops"
WAVE = "argocd.argoproj.io/sync-wave"
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod")
KUSTOMIZE_KEYS = {"apiVersion", "kind", "resources", "namespace"}
FLUX_API = "kustomize.toolkit.fluxcd.io/v1"

Obj = dict[str, Any]


def load(path: Path) -> list[Obj]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def render(folder: Path) -> list[Obj]:
    """What `kubectl kustomize folder` prints, for kustomizations of resources and a namespace."""
    (kustomization,) = load(folder / "kustomization.yaml")
    assert set(kustomization) <= KUSTOMIZE_KEYS, (
        f"{folder}: this test resolves only {KUSTOMIZE_KEYS}"
    )
    docs: list[Obj] = []
    for entry in kustomization["resources"]:
        path = folder / entry
        docs += render(path) if path.is_dir() else load(path)
    if "namespace" in kustomization:
        for doc in docs:
            doc["metadata"]["namespace"] = kustomization["namespace"]
    return docs


def wave(doc: Obj) -> int:
    return int((doc["metadata"].get("annotations") or {}).get(WAVE, "0"))


def of_kind(docs: list[Obj], *kinds: str) -> list[Obj]:
    return [doc for doc in docs if doc["kind"] in kinds]


def flux_kustomizations() -> dict[str, Obj]:
    docs = load(EXAMPLE / "flux" / "kustomizations.yaml")
    assert {(d["apiVersion"], d["kind"]) for d in docs} == {(FLUX_API, "Kustomization")}
    return {d["metadata"]["name"]: d for d in docs}


def flux_render(kustomization: Obj) -> list[Obj]:
    path = kustomization["spec"]["path"]
    assert path.startswith("./examples/gitops/"), path  # relative to the repository's root
    return render(ROOT / path)


def test_the_app_and_its_indexes_render() -> None:
    docs = render(EXAMPLE)
    assert len(of_kind(docs, "DatabaseIndex")) >= 1
    assert len(of_kind(docs, *WORKLOADS)) >= 1
    assert {doc["metadata"]["namespace"] for doc in docs} == {"shop"}
    for index in of_kind(docs, "DatabaseIndex"):
        assert index["apiVersion"] == "dbindex.dev/v1alpha1"
        specs.parse(index["spec"], object_name=index["metadata"]["name"])


def test_argocd_every_index_is_in_an_earlier_wave_than_every_workload() -> None:
    docs = render(EXAMPLE)
    index_waves = [wave(doc) for doc in of_kind(docs, "DatabaseIndex")]
    workload_waves = [wave(doc) for doc in of_kind(docs, *WORKLOADS)]
    assert max(index_waves) < min(workload_waves), (index_waves, workload_waves)
    for doc in of_kind(docs, "DatabaseIndex"):
        assert WAVE in doc["metadata"]["annotations"], "written out, not left to the default"


def test_argocd_application_syncs_the_example() -> None:
    (app,) = load(EXAMPLE / "argocd" / "application.yaml")
    assert (app["apiVersion"], app["kind"]) == ("argoproj.io/v1alpha1", "Application")
    assert (EXAMPLE / "kustomization.yaml").is_file()
    assert ROOT / app["spec"]["source"]["path"] == EXAMPLE
    assert app["spec"]["destination"]["namespace"] == "shop"


def test_flux_the_app_depends_on_the_indexes_which_wait_for_ready() -> None:
    kustomizations = flux_kustomizations()
    contents = {name: flux_render(k) for name, k in kustomizations.items()}
    (indexes,) = [n for n, docs in contents.items() if of_kind(docs, "DatabaseIndex")]
    (app,) = [n for n, docs in contents.items() if of_kind(docs, *WORKLOADS)]
    assert indexes != app
    assert not of_kind(contents[indexes], *WORKLOADS)
    assert {"name": indexes} in kustomizations[app]["spec"]["dependsOn"]

    spec = kustomizations[indexes]["spec"]
    assert spec["wait"] is True
    (check,) = [
        c
        for c in spec["healthCheckExprs"]
        if (c["apiVersion"], c["kind"]) == ("dbindex.dev/v1alpha1", "DatabaseIndex")
    ]
    assert "c.type == 'Ready' && c.status == 'True'" in check["current"]
    assert "status.observedGeneration != metadata.generation" in check["inProgress"]
    assert "'Failed'" in check["failed"]

    # Together the two apply what the Argo CD Application applies, nothing more, nothing less.
    def key(doc: Obj) -> tuple[str, str, str]:
        return doc["kind"], doc["metadata"]["namespace"], doc["metadata"]["name"]

    flux_objects = sorted(key(doc) for docs in contents.values() for doc in docs)
    assert flux_objects == sorted(key(doc) for doc in render(EXAMPLE))


@pytest.mark.parametrize("folder", ["indexes", "app"])
def test_each_part_renders_on_its_own(folder: str) -> None:
    assert render(EXAMPLE / folder)


def test_the_migration_creates_the_same_index_if_not_exists() -> None:
    """What `dbindex-operator import` makes of the app's migration is the DatabaseIndex object
    itself (bar the wave annotation and the namespace): the two describe one index."""
    (migrations,) = of_kind(render(EXAMPLE / "app"), "ConfigMap")
    statements = "\n".join(migrations["data"].values())
    assert "CREATE INDEX IF NOT EXISTS" in statements
    result = importing.convert(
        statements,
        "migrations",
        namespace=None,
        secret="app-db",
        key=None,
        deletion_policy="Retain",
    )
    assert result.errors == []
    for doc in of_kind(render(EXAMPLE / "indexes"), "DatabaseIndex"):
        del doc["metadata"]["annotations"], doc["metadata"]["namespace"]
        assert doc in result.manifests
    assert len(result.manifests) == len(of_kind(render(EXAMPLE), "DatabaseIndex"))
