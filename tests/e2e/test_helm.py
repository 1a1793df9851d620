"""The Helm chart in charts/dbindex-operator, rendered by the Helm built for the local environment.

`helm lint`, `helm template | kubectl apply --dry-run=server` for the default values and for a
values file that sets every value, the schema's rejections, the CRD it renders (the same object
as crds/), and its RBAC proven on the real API server with the same can-i table as deploy/.
What needs no Helm is in tests/unit/test_helm.py.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.test_deploy import (
    CLUSTER_WIDE_ALSO_NEVER,
    CLUSTER_WIDE_ALSO_USED,
    NAMESPACED_ALSO_NEVER,
    NAMESPACED_ALSO_USED,
    NEVER,
    USED,
    Install,
    Kubectl,
    can_i,
    rows,
)
from tests.harness.prometheus import install_monitoring_crds

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "dbindex-operator"
CRD_SOURCE = ROOT / "crds" / "databaseindexes.dbindex.dev.yaml"
CRD_TEMPLATE = "templates/crds/databaseindexes.dbindex.dev.yaml"
ALL_VALUES = ROOT / "tests" / "fixtures" / "helm" / "all-values.yaml"
SCHEMA_ERROR = "values don't meet the specifications of the schema"

Obj = dict[str, Any]


# -- with Helm -------------------------------------------------------------------------------------


def helm(
    local_env: dict[str, str], *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["helm", *args], env=local_env, capture_output=True, text=True, timeout=120, check=False
    )
    if check:
        assert result.returncode == 0, f"helm {' '.join(args)}:\n{result.stdout}{result.stderr}"
    return result


def template(
    local_env: dict[str, str], *args: str, release: str = "dbindex", namespace: str = "dbindex"
) -> str:
    """`helm template`, offline, for the Kubernetes version of the local API server."""
    kube_version = local_env["K8S_VERSION"].removeprefix("v")
    return helm(
        local_env,
        "template",
        release,
        str(CHART),
        "--namespace",
        namespace,
        "--kube-version",
        kube_version,
        *args,
    ).stdout


def docs_of(text: str) -> list[Obj]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def one(docs: list[Obj], kind: str, namespace: str | None = None) -> Obj:
    matches = [
        doc
        for doc in docs
        if doc["kind"] == kind
        and (namespace is None or doc["metadata"].get("namespace") == namespace)
    ]
    assert len(matches) == 1, f"{kind}: {len(matches)} objects"
    return matches[0]


@pytest.mark.parametrize("values", [None, ALL_VALUES], ids=["defaults", "all-values"])
def test_helm_lint(local_env: dict[str, str], values: Path | None) -> None:
    kube_version = local_env["K8S_VERSION"].removeprefix("v")
    extra = ["--values", str(values)] if values else []
    helm(local_env, "lint", "--strict", str(CHART), "--kube-version", kube_version, *extra)


def test_rendered_crd_is_the_crd_in_crds(local_env: dict[str, str]) -> None:
    (crd,) = docs_of(template(local_env, "--show-only", CRD_TEMPLATE))
    meta = crd["metadata"]
    assert meta["annotations"].pop("helm.sh/resource-policy") == "keep"
    if not meta["annotations"]:
        del meta["annotations"]
    assert meta.pop("labels")["app.kubernetes.io/managed-by"] == "Helm"
    assert crd == yaml.safe_load(CRD_SOURCE.read_text())


def test_crds_create_false_renders_no_crd(local_env: dict[str, str]) -> None:
    kinds = {doc["kind"] for doc in docs_of(template(local_env, "--set", "crds.create=false"))}
    assert "CustomResourceDefinition" not in kinds
    assert "Deployment" in kinds


def test_default_rendering(local_env: dict[str, str]) -> None:
    docs = docs_of(template(local_env, release="dbindex-operator", namespace="ops"))
    assert sorted(doc["kind"] for doc in docs) == sorted(
        [
            "ServiceAccount",
            "CustomResourceDefinition",
            "CustomResourceDefinition",  # Kopf's ClusterKopfPeering
            "ClusterRole",
            "ClusterRoleBinding",
            "Deployment",
            "Service",
            "PodDisruptionBudget",
        ]
    )
    deployment = one(docs, "Deployment")
    assert deployment["metadata"]["name"] == "dbindex-operator"
    assert deployment["spec"]["replicas"] == 2  # one active, one hot standby
    assert deployment["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
    }
    (main,) = deployment["spec"]["template"]["spec"]["containers"]
    assert main["image"] == "dbindex-operator:0.1.0"
    assert main["args"] == [
        "--all-namespaces",
        "--peering=dbindex-operator",
        "--peering-lifetime=20",
        "--log-level=info",
        "--liveness=http://0.0.0.0:8080/healthz",
    ]
    env = {item["name"]: item["value"] for item in main["env"]}
    assert env == {
        "DBINDEX_BUILD_CONCURRENCY": "2",
        "DBINDEX_PROGRESS_INTERVAL": "2",
        "DBINDEX_RESYNC_INTERVAL": "60",
        "DBINDEX_DELETION_TIMEOUT": "300",
        "DBINDEX_METRICS_ADDRESS": "0.0.0.0",
        "DBINDEX_METRICS_PORT": "9090",
    }
    security = main["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert main["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    service = one(docs, "Service")
    assert service["spec"]["ports"] == [
        {"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"}
    ]
    subjects = one(docs, "ClusterRoleBinding")["subjects"]
    assert subjects == [{"kind": "ServiceAccount", "name": "dbindex-operator", "namespace": "ops"}]


def test_all_values_rendering(local_env: dict[str, str]) -> None:
    docs = docs_of(template(local_env, "--values", str(ALL_VALUES), namespace="ops"))
    kinds = sorted((doc["kind"], doc["metadata"].get("namespace")) for doc in docs)
    assert kinds == sorted(
        [
            ("ServiceAccount", "ops"),
            ("ClusterRole", None),
            ("ClusterRoleBinding", None),
            ("Role", "dbindex-helm-a"),
            ("RoleBinding", "dbindex-helm-a"),
            ("Role", "dbindex-helm-b"),
            ("RoleBinding", "dbindex-helm-b"),
            ("Deployment", "ops"),
            ("Service", "ops"),
            ("PodMonitor", "ops"),
            ("PrometheusRule", "ops"),
            ("ConfigMap", "dbindex-helm-a"),
        ]
    )
    assert one(docs, "ServiceAccount")["metadata"]["name"] == "dbindex-custom-sa"
    deployment = one(docs, "Deployment")
    assert deployment["metadata"]["name"] == "dbindex-all-values"
    assert deployment["spec"]["replicas"] == 0
    pod = deployment["spec"]["template"]
    assert pod["metadata"]["annotations"] == {"example.com/team": "databases"}
    assert pod["spec"]["serviceAccountName"] == "dbindex-custom-sa"
    assert pod["spec"]["imagePullSecrets"] == [{"name": "pull-secret"}]
    assert pod["spec"]["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert pod["spec"]["tolerations"][0]["key"] == "dedicated"
    assert "nodeAffinity" in pod["spec"]["affinity"]
    (main,) = pod["spec"]["containers"]
    assert main["image"] == "team/dbindex-operator:0.1.0-rc.1"
    assert main["imagePullPolicy"] == "Always"
    assert main["args"] == [
        "--namespace=dbindex-helm-a",
        "--namespace=dbindex-helm-b",
        "--peering=dbindex-all-values",
        "--peering-lifetime=20",
        "--log-level=debug",
        "--liveness=http://0.0.0.0:8080/healthz",
    ]
    env = {item["name"]: item.get("value", item.get("valueFrom")) for item in main["env"]}
    assert env["DBINDEX_BUILD_CONCURRENCY"] == "4"
    assert env["DBINDEX_PROGRESS_INTERVAL"] == "0.5"
    assert env["DBINDEX_RESYNC_INTERVAL"] == "120"
    assert env["DBINDEX_DELETION_TIMEOUT"] == "30"
    # The operator's own parser reads what the chart renders.
    from dbindex_operator.core import settings, windows

    config = settings.Settings.from_env({"DBINDEX_DEFAULT_WINDOW": env["DBINDEX_DEFAULT_WINDOW"]})
    assert config.default_window == windows.parse(
        {
            "windows": [{"schedule": "0 1 * * *", "duration": "4h", "timeZone": "Europe/Berlin"}],
            "minTableBytes": 1048576,
            "cancelOutsideWindow": True,
        }
    )
    assert env["DBINDEX_METRICS_PORT"] == "9191"
    assert env["DBINDEX_STATUS_MIN_INTERVAL"] == "2"
    assert "configMapKeyRef" in env["DBINDEX_CONNECT_TIMEOUT"]
    assert main["resources"]["limits"] == {"cpu": "1", "memory": "256Mi"}
    assert {"name": "metrics", "containerPort": 9191, "protocol": "TCP"} in main["ports"]
    service = one(docs, "Service")
    assert service["metadata"]["annotations"] == {"example.com/scrape": "true"}
    assert service["spec"]["ports"][0]["port"] == 9191
    # Monitoring (tests/e2e/test_monitoring_manifests.py has the rest): labels, interval, URLs.
    monitor = one(docs, "PodMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["podMetricsEndpoints"][0]["interval"] == "15s"
    rule = one(docs, "PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    url = rule["spec"]["groups"][0]["rules"][0]["annotations"]["runbook_url"]
    assert url.startswith("https://git.example.com/platform/dbindex-operator/blob/main/docs/")
    dashboard = one(docs, "ConfigMap")
    assert dashboard["metadata"]["labels"]["example.com/team"] == "databases"
    assert dashboard["metadata"]["annotations"] == {"grafana_folder": "Databases"}


def test_metrics_disabled(local_env: dict[str, str]) -> None:
    docs = docs_of(template(local_env, "--set", "metrics.enabled=false"))
    assert "Service" not in {doc["kind"] for doc in docs}
    (main,) = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert {item["name"]: item["value"] for item in main["env"]}["DBINDEX_METRICS_PORT"] == "0"
    assert [port["name"] for port in main["ports"]] == ["health"]


@pytest.mark.parametrize(
    ("setting", "complaint"),
    [
        pytest.param('replicaCount="1"', "at '/replicaCount'", id="replicaCount-string"),
        pytest.param("replicaCount=-1", "at '/replicaCount'", id="replicaCount-negative"),
        pytest.param("peering.lifetime=5", "at '/peering/lifetime'", id="lifetime-too-short"),
        pytest.param('shards=[{"name":"a"}]', "at '/shards/0'", id="shard-without-selector"),
        pytest.param(
            'shards=[{"name":"A_1","selector":"x=y"}]', "at '/shards/0/name'", id="shard-name"
        ),
        pytest.param(
            'watchNamespaces="apps"', "at '/watchNamespaces'", id="watchNamespaces-string"
        ),
        pytest.param(
            'watchNamespaces=["Not_A_Name"]', "at '/watchNamespaces/0'", id="namespace-name"
        ),
        pytest.param(
            'metrics.enabled="true"', "at '/metrics/enabled'", id="metrics-enabled-string"
        ),
        pytest.param("metrics.port=70000", "at '/metrics/port'", id="metrics-port-range"),
        pytest.param(
            "operator.buildConcurrency=1.5",
            "at '/operator/buildConcurrency'",
            id="concurrency-float",
        ),
        pytest.param(
            'operator.progressInterval="2s"',
            "at '/operator/progressInterval'",
            id="interval-string",
        ),
        pytest.param('operator.logLevel="verbose"', "at '/operator/logLevel'", id="logLevel-enum"),
        pytest.param("image.tag=1", "at '/image/tag'", id="image-tag-number"),
        pytest.param(
            'image.pullPolicy="Sometimes"', "at '/image/pullPolicy'", id="pullPolicy-enum"
        ),
        pytest.param('extraEnv={"A":"b"}', "at '/extraEnv'", id="extraEnv-map"),
        pytest.param('extraEnv=[{"value":"b"}]', "at '/extraEnv/0'", id="extraEnv-without-name"),
        pytest.param("crds.create=1", "at '/crds/create'", id="crds-create-number"),
        pytest.param("replicas=1", "'replicas' not allowed", id="unknown-key"),
    ],
)
def test_schema_rejects_wrong_types(
    local_env: dict[str, str], setting: str, complaint: str
) -> None:
    kube_version = local_env["K8S_VERSION"].removeprefix("v")
    result = helm(
        local_env,
        "template",
        "dbindex",
        str(CHART),
        "--kube-version",
        kube_version,
        "--set-json",
        setting,
        check=False,
    )
    assert result.returncode != 0, f"--set-json {setting} was accepted"
    assert SCHEMA_ERROR in result.stderr, result.stderr
    assert complaint in result.stderr, result.stderr


# -- on the real API server ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def monitoring_crds(local_env: dict[str, str]) -> list[str]:
    """prometheus-operator's PodMonitor and PrometheusRule CRDs (pinned, hack/monitoring-crds.sh),
    installed and left in place: the monitoring values render those kinds."""
    return install_monitoring_crds(local_env)


@pytest.fixture(scope="module")
def all_values_namespaces(kubectl: Kubectl) -> Iterator[None]:
    """The namespaces all-values.yaml watches; only those created here are deleted after."""
    watched = yaml.safe_load(ALL_VALUES.read_text())["watchNamespaces"]
    created = [n for n in watched if kubectl("get", "namespace", n, check=False).returncode != 0]
    for name in created:
        kubectl("create", "namespace", name)
    yield
    for name in created:
        kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


@pytest.mark.usefixtures("crd", "all_values_namespaces", "monitoring_crds")
@pytest.mark.parametrize("values", [None, ALL_VALUES], ids=["defaults", "all-values"])
def test_helm_template_server_dry_run(
    local_env: dict[str, str], kubectl: Kubectl, namespace: str, values: Path | None
) -> None:
    extra = ["--values", str(values)] if values else []
    rendered = template(local_env, *extra, namespace=namespace)
    result = kubectl("apply", "--dry-run=server", "-f", "-", input=rendered)
    assert "deployment.apps/" in result.stdout
    assert "(server dry run)" in result.stdout
    assert "Warning" not in result.stderr, result.stderr


def helm_install(
    kubectl: Kubectl, local_env: dict[str, str], *, namespaced: bool
) -> Iterator[Install]:
    """Apply the chart for real (release namespace and watched namespace are fresh)."""
    suffix = uuid.uuid4().hex[:8]
    release = f"t-{suffix}"
    names = Install(
        operator_namespace=f"t-{suffix}-op",
        watched_namespace=f"t-{suffix}-apps",
        other_namespace=f"t-{suffix}-other",
        service_account=f"{release}-dbindex-operator",
    )
    namespaces = (names.operator_namespace, names.watched_namespace, names.other_namespace)
    for name in namespaces:
        kubectl("create", "namespace", name)
    extra = ["--set", f"watchNamespaces={{{names.watched_namespace}}}"] if namespaced else []
    rendered = template(
        local_env,
        "--set",
        "crds.create=false",
        *extra,
        release=release,
        namespace=names.operator_namespace,
    )
    cluster_scoped = [
        f"{doc['kind'].lower()}/{doc['metadata']['name']}"
        for doc in docs_of(rendered)
        if doc["kind"] in {"ClusterRole", "ClusterRoleBinding"}
    ]
    try:
        kubectl("apply", "-f", "-", input=rendered)
        yield names
    finally:
        kubectl("delete", *cluster_scoped, "--ignore-not-found", check=False)
        for name in namespaces:
            kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(scope="module")
def helm_cluster_wide(kubectl: Kubectl, local_env: dict[str, str], crd: str) -> Iterator[Install]:
    yield from helm_install(kubectl, local_env, namespaced=False)


@pytest.fixture(scope="module")
def helm_namespaced(kubectl: Kubectl, local_env: dict[str, str], crd: str) -> Iterator[Install]:
    yield from helm_install(kubectl, local_env, namespaced=True)


@pytest.mark.parametrize(
    ("verb", "resource", "where", "allowed"),
    rows(USED + CLUSTER_WIDE_ALSO_USED, True) + rows(NEVER + CLUSTER_WIDE_ALSO_NEVER, False),
)
def test_helm_cluster_wide_rbac(
    kubectl: Kubectl,
    helm_cluster_wide: Install,
    verb: str,
    resource: str,
    where: str,
    allowed: bool,
) -> None:
    assert can_i(kubectl, helm_cluster_wide, verb, resource, where) is allowed


@pytest.mark.parametrize(
    ("verb", "resource", "where", "allowed"),
    rows(USED + NAMESPACED_ALSO_USED, True) + rows(NEVER + NAMESPACED_ALSO_NEVER, False),
)
def test_helm_watch_namespaces_rbac(
    kubectl: Kubectl,
    helm_namespaced: Install,
    verb: str,
    resource: str,
    where: str,
    allowed: bool,
) -> None:
    assert can_i(kubectl, helm_namespaced, verb, resource, where) is allowed
