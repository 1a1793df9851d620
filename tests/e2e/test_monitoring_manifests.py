"""Monitoring manifests on the real API server with the real prometheus-operator CRDs.

The Kustomize component deploy/monitoring/ (with the cluster-wide and the namespaced install) and
the chart's monitoring values are rendered and sent with `kubectl apply --dry-run=server`, which
validates each PodMonitor and PrometheusRule against the CRD schemas of the pinned
prometheus-operator version (hack/monitoring-crds.sh fetches them through the Go module proxy).
The rendered rules and dashboard are the sources in monitoring/; promtool and the dashboard's
structure are tested in tests/unit/test_monitoring.py.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.test_deploy import CLUSTER_WIDE, NAMESPACED, Kubectl, install_namespaces
from tests.e2e.test_helm import CHART, docs_of, monitoring_crds, one, template
from tests.harness.prometheus import ALERTS, DASHBOARD

ROOT = Path(__file__).resolve().parents[2]
COMPONENT = ROOT / "deploy" / "monitoring"
MONITORING_KINDS = {"PodMonitor", "PrometheusRule", "ConfigMap"}
HELM_MONITORING = [
    "--set",
    "monitoring.podMonitor.enabled=true",
    "--set",
    "monitoring.prometheusRule.enabled=true",
    "--set",
    "monitoring.grafanaDashboard.enabled=true",
]

__all__ = ["install_namespaces", "monitoring_crds"]


def with_component(tmp_path: Path, install: str) -> Path:
    """A kustomization of the user's kind: an install plus the monitoring component (kustomize
    takes only relative paths, and no overlay inside deploy/ can include deploy/ itself)."""
    (tmp_path / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": [os.path.relpath(ROOT / install, tmp_path)],
                "components": [os.path.relpath(COMPONENT, tmp_path)],
            }
        )
    )
    return tmp_path


def rendered(kubectl: Kubectl, path: Path) -> list[dict[str, Any]]:
    return docs_of(kubectl("kustomize", str(path)).stdout)


def check_monitoring_objects(docs: list[dict[str, Any]]) -> None:
    """The three objects, carrying exactly the sources in monitoring/."""
    rule = one(docs, "PrometheusRule")
    assert rule["spec"] == yaml.safe_load(ALERTS.read_text())
    dashboard = one(docs, "ConfigMap")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    (text,) = dashboard["data"].values()
    assert json.loads(text) == json.loads(DASHBOARD.read_text())
    monitor = one(docs, "PodMonitor")
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["port"] == "metrics"
    assert endpoint["honorLabels"] is True
    assert {"targetLabel": "job", "replacement": "dbindex-operator"} in endpoint["relabelings"]
    # The PodMonitor selects the operator's pods, on a port they declare.
    deployment = one(docs, "Deployment")
    pod = deployment["spec"]["template"]
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod["metadata"]["labels"].items()
    ports = [p["name"] for c in pod["spec"]["containers"] for p in c.get("ports", ())]
    assert "metrics" in ports


@pytest.mark.usefixtures("install_namespaces", "monitoring_crds")
@pytest.mark.parametrize("install", [CLUSTER_WIDE, NAMESPACED])
def test_kustomize_component_server_dry_run(kubectl: Kubectl, tmp_path: Path, install: str) -> None:
    path = with_component(tmp_path, install)
    docs = rendered(kubectl, path)
    assert {doc["kind"] for doc in docs} >= MONITORING_KINDS
    check_monitoring_objects(docs)
    result = kubectl("apply", "--dry-run=server", "-k", str(path))
    assert "podmonitor.monitoring.coreos.com/dbindex-operator" in result.stdout
    assert "prometheusrule.monitoring.coreos.com/dbindex-operator" in result.stdout
    assert "configmap/dbindex-operator-dashboard" in result.stdout
    assert "(server dry run)" in result.stdout
    assert "Warning" not in result.stderr, result.stderr


def test_monitoring_is_off_by_default(local_env: dict[str, str]) -> None:
    kinds = {doc["kind"] for doc in docs_of(template(local_env))}
    assert not kinds & MONITORING_KINDS
    assert "kind: Component" in (COMPONENT / "kustomization.yaml").read_text()


@pytest.mark.usefixtures("crd", "monitoring_crds")
def test_helm_monitoring_server_dry_run(
    local_env: dict[str, str], kubectl: Kubectl, namespace: str
) -> None:
    text = template(local_env, *HELM_MONITORING, release="mon", namespace=namespace)
    docs = docs_of(text)
    check_monitoring_objects(docs)
    rule = one(docs, "PrometheusRule")
    urls = {r["annotations"]["runbook_url"] for g in rule["spec"]["groups"] for r in g["rules"]}
    assert all(url.startswith("docs/runbook.md#") for url in urls)
    result = kubectl("apply", "--dry-run=server", "-f", "-", input=text)
    assert "podmonitor.monitoring.coreos.com/mon-dbindex-operator" in result.stdout
    assert "prometheusrule.monitoring.coreos.com/mon-dbindex-operator" in result.stdout
    assert "configmap/mon-dbindex-operator-dashboard" in result.stdout
    assert "Warning" not in result.stderr, result.stderr


def test_helm_runbook_base_url(local_env: dict[str, str]) -> None:
    base = "https://git.example.com/platform/dbindex-operator/blob/main"
    text = template(
        local_env,
        "--set",
        "monitoring.prometheusRule.enabled=true",
        "--set",
        f"monitoring.prometheusRule.runbookBaseURL={base}/",
    )
    rule = one(docs_of(text), "PrometheusRule")
    for group in rule["spec"]["groups"]:
        for r in group["rules"]:
            anchor = r["alert"].lower()
            assert r["annotations"]["runbook_url"] == f"{base}/docs/runbook.md#{anchor}"
            # Prometheus' own templates reach Prometheus untouched by Helm.
            if r["alert"] != "DBIndexOperatorDown":
                assert "{{ $labels.namespace }}" in r["annotations"]["summary"]


def test_helm_podmonitor_needs_metrics(local_env: dict[str, str]) -> None:
    from tests.e2e.test_helm import helm

    kube_version = local_env["K8S_VERSION"].removeprefix("v")
    result = helm(
        local_env,
        "template",
        "x",
        str(CHART),
        "--kube-version",
        kube_version,
        "--set",
        "monitoring.podMonitor.enabled=true",
        "--set",
        "metrics.enabled=false",
        check=False,
    )
    assert result.returncode != 0
    assert "monitoring.podMonitor.enabled needs metrics.enabled" in result.stderr


@pytest.mark.usefixtures("monitoring_crds")
@pytest.mark.parametrize(
    ("path", "value", "complaint"),
    [
        pytest.param(("for",), "10 minutes", "spec.groups[0].rules[1].for", id="rule-for"),
        pytest.param(("alert",), 7, "spec.groups[0].rules[1].alert", id="rule-alert-type"),
    ],
)
def test_real_crd_rejects_a_broken_rule(
    kubectl: Kubectl, namespace: str, path: tuple[str, ...], value: object, complaint: str
) -> None:
    """The dry runs above mean something: the real schema refuses a malformed rule."""
    rules = yaml.safe_load(ALERTS.read_text())
    rules["groups"][0]["rules"][1][path[0]] = value
    body = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "broken", "namespace": namespace},
        "spec": rules,
    }
    result = kubectl("apply", "--dry-run=server", "-f", "-", input=json.dumps(body), check=False)
    assert result.returncode != 0
    assert complaint in result.stderr, result.stderr


@pytest.fixture
def namespace(kubectl: Kubectl) -> Iterator[str]:
    from tests.conftest import new_namespace

    with new_namespace(kubectl, "mon-") as name:
        yield name
