"""The documented `kubectl patch` of Argo CD's ConfigMap (deploy/argocd/argocd-cm.yaml) on the
real API server. The health script itself runs under Lua in tests/unit/test_argocd_health.py."""

from __future__ import annotations

import json
from typing import Any

from tests.unit.test_argocd_health import ARGOCD_CM, CM_KEY, HEALTH_LUA


def test_argocd_cm_snippet_merges_into_an_existing_argocd_cm(kubectl: Any, namespace: str) -> None:
    # The documented command, against a stand-in for Argo CD's own ConfigMap: the entry is
    # added and the keys already there are kept.
    existing = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "argocd-cm", "namespace": namespace},
        "data": {"url": "https://argocd.example.com", "timeout.reconciliation": "180s"},
    }
    kubectl("create", "-f", "-", input=json.dumps(existing))
    kubectl(
        "-n", namespace, "patch", "configmap", "argocd-cm",
        "--type", "merge", "--patch-file", str(ARGOCD_CM),
    )  # fmt: skip
    data = json.loads(
        kubectl("-n", namespace, "get", "configmap", "argocd-cm", "-o", "json").stdout
    )
    assert data["data"] == {**existing["data"], CM_KEY: HEALTH_LUA.read_text()}
