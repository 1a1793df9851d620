"""The chart's replicas, PodDisruptionBudget, peering and shards (issue #16 parts 2 and 3):
rendered with the real helm for the local API server's version, and the shard rendering
server-side dry-run applied. (tests/e2e/test_helm.py covers the rest of the chart.)"""

from __future__ import annotations

import pytest

from tests.conftest import Kubectl
from tests.e2e.test_helm import CHART, Obj, docs_of, helm, template

SHARDS = (
    'shards=[{"name":"a","selector":"dbindex.dev/shard=a"},'
    '{"name":"b","selector":"dbindex.dev/shard in (b,c)"}]'
)
PEERING_RULE = {
    "apiGroups": ["kopf.dev"],
    "resources": ["clusterkopfpeerings"],
    "verbs": ["get", "list", "watch", "patch", "create"],
}


def of_kind(docs: list[Obj], kind: str) -> dict[str, Obj]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def args_of(deployment: Obj) -> list[str]:
    (main,) = deployment["spec"]["template"]["spec"]["containers"]
    args: list[str] = main["args"]
    return args


def test_shards_are_deployments_with_their_own_selector_peering_and_budget(
    local_env: dict[str, str],
) -> None:
    docs = docs_of(template(local_env, "--set-json", SHARDS, release="db", namespace="ops"))
    deployments = of_kind(docs, "Deployment")
    assert sorted(deployments) == ["db-dbindex-operator-a", "db-dbindex-operator-b"]
    budgets = of_kind(docs, "PodDisruptionBudget")
    assert sorted(budgets) == sorted(deployments)
    selectors = {"a": "dbindex.dev/shard=a", "b": "dbindex.dev/shard in (b,c)"}
    for shard, selector in selectors.items():
        name = f"db-dbindex-operator-{shard}"
        spec = deployments[name]["spec"]
        assert spec["replicas"] == 2
        assert spec["strategy"]["type"] == "RollingUpdate"
        args = args_of(deployments[name])
        assert f"--selector={selector}" in args
        assert f"--peering={name}" in args  # each shard peers only with its own replicas
        pod_labels = spec["template"]["metadata"]["labels"]
        assert spec["selector"]["matchLabels"]["dbindex.dev/shard"] == shard
        assert spec["selector"]["matchLabels"].items() <= pod_labels.items()
        budget = budgets[name]["spec"]
        assert budget["maxUnavailable"] == 1
        assert budget["selector"] == spec["selector"]
    # One ServiceAccount, one set of RBAC, one metrics Service for all shards.
    assert len(of_kind(docs, "ServiceAccount")) == 1
    (role,) = of_kind(docs, "ClusterRole").values()
    assert PEERING_RULE in role["rules"]
    (service,) = of_kind(docs, "Service").values()
    assert "dbindex.dev/shard" not in service["spec"]["selector"]


@pytest.mark.parametrize(
    ("setting", "budgets"),
    [
        pytest.param("replicaCount=2", 1, id="two-replicas"),
        pytest.param("replicaCount=3", 1, id="three-replicas"),
        pytest.param("replicaCount=1", 0, id="one-replica-no-budget"),
        pytest.param("podDisruptionBudget.enabled=false", 0, id="disabled"),
    ],
)
def test_disruption_budget(local_env: dict[str, str], setting: str, budgets: int) -> None:
    docs = docs_of(template(local_env, "--set", setting))
    assert len(of_kind(docs, "PodDisruptionBudget")) == budgets


def test_peering_disabled(local_env: dict[str, str]) -> None:
    docs = docs_of(template(local_env, "--set", "peering.enabled=false,replicaCount=1"))
    (deployment,) = of_kind(docs, "Deployment").values()
    assert not [arg for arg in args_of(deployment) if arg.startswith("--peering")]
    crds = of_kind(docs, "CustomResourceDefinition")
    assert "clusterkopfpeerings.kopf.dev" not in crds
    assert "databaseindexes.dbindex.dev" in crds
    (role,) = of_kind(docs, "ClusterRole").values()
    assert PEERING_RULE not in role["rules"]


def test_peering_lifetime(local_env: dict[str, str]) -> None:
    docs = docs_of(template(local_env, "--set", "peering.lifetime=30"))
    (deployment,) = of_kind(docs, "Deployment").values()
    assert "--peering-lifetime=30" in args_of(deployment)


def test_duplicate_shard_names_fail(local_env: dict[str, str]) -> None:
    kube_version = local_env["K8S_VERSION"].removeprefix("v")
    result = helm(
        local_env,
        "template",
        "db",
        str(CHART),
        "--kube-version",
        kube_version,
        "--set-json",
        'shards=[{"name":"a","selector":"x=1"},{"name":"a","selector":"x=2"}]',
        check=False,
    )
    assert result.returncode != 0
    assert 'the name "a" is used twice' in result.stderr


@pytest.mark.usefixtures("crd")
def test_shards_server_dry_run(local_env: dict[str, str], kubectl: Kubectl, namespace: str) -> None:
    rendered = template(local_env, "--set-json", SHARDS, namespace=namespace)
    result = kubectl("apply", "--dry-run=server", "-f", "-", input=rendered)
    assert "poddisruptionbudget.policy/dbindex-dbindex-operator-a" in result.stdout
    assert "deployment.apps/dbindex-dbindex-operator-b" in result.stdout
    assert "Warning" not in result.stderr, result.stderr


def test_a_shard_by_namespaces(local_env: dict[str, str]) -> None:
    """A shard may serve a namespace list instead of (or besides) a label selector."""
    shards = (
        'shards=[{"name":"billing","namespaces":["billing","pay"]},'
        '{"name":"rest","selector":"team!=billing"}]'
    )
    docs = docs_of(template(local_env, "--set-json", shards, release="db"))
    deployments = of_kind(docs, "Deployment")
    billing = args_of(deployments["db-dbindex-operator-billing"])
    assert billing[:3] == [
        "--namespace=billing",
        "--namespace=pay",
        "--peering=db-dbindex-operator-billing",
    ]
    assert not [arg for arg in billing if arg.startswith("--selector")]
    rest = args_of(deployments["db-dbindex-operator-rest"])
    assert rest[0] == "--all-namespaces"
    assert "--selector=team!=billing" in rest
