"""The shipped RBAC is sufficient, not just plausible: the operator runs under the
ServiceAccount's own token (not as admin) and builds an index to Ready, for both variants."""

from __future__ import annotations

import base64
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import Kubectl
from tests.e2e.conftest import Kube, Operator, connection, index_facts, is_ready, sql
from tests.e2e.test_deploy import CLUSTER_WIDE, NAMESPACED, Install, install


def _token_kubeconfig(kubectl: Kubectl, env: dict[str, str], who: Install, path: Path) -> Path:
    token = kubectl(
        "create", "token", who.service_account, "-n", who.operator_namespace, "--duration=1h"
    ).stdout.strip()
    ca = base64.b64encode(Path(env["DBINDEX_CA_CERT"]).read_bytes()).decode()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "local",
                "cluster": {
                    "server": env["DBINDEX_APISERVER_URL"],
                    "certificate-authority-data": ca,
                },
            }
        ],
        "users": [{"name": "operator", "user": {"token": token}}],
        "contexts": [{"name": "operator", "context": {"cluster": "local", "user": "operator"}}],
        "current-context": "operator",
    }
    path.write_text(yaml.safe_dump(config))
    return path


def _run_as(
    env: dict[str, str], kubeconfig: Path, scope: list[str], log: Path
) -> subprocess.Popen[bytes]:
    operator_env = {
        **env,
        "KUBECONFIG": str(kubeconfig),
        "DBINDEX_METRICS_PORT": "0",
        "DBINDEX_RESYNC_INTERVAL": "3",
        "DBINDEX_CONNECTION_BACKOFF": "1,2",
    }
    command = [str(Path(sys.executable).parent / "dbindex-operator"), "run", *scope]
    return subprocess.Popen(
        command, env=operator_env, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )


def _build_one(kube: Kube, namespace: str, dsn: str) -> None:
    sql(dsn, "CREATE TABLE t (id int, email text)")
    sql(dsn, "INSERT INTO t SELECT g, 'u' || g FROM generate_series(1, 1000) g")
    kube.secret(namespace, "db", {"dsn": dsn})
    kube.create(
        namespace,
        "t-email",
        {
            "connection": connection(),
            "table": "t",
            "columns": [{"column": "email"}],
            "deletionPolicy": "Delete",
        },
    )
    status = kube.wait(namespace, "t-email", is_ready, timeout=60)
    assert status["index"]["valid"]
    assert index_facts(dsn, "t_email") is not None
    assert "BuildSucceeded" in kube.event_reasons(namespace, "t-email"), "events need RBAC too"
    # Deletion (finalizer removal) under the same token.
    kube.delete(namespace, "t-email")
    kube.wait_gone(namespace, "t-email")
    assert index_facts(dsn, "t_email") is None


@pytest.fixture
def paused_suite_operator(operator: Operator) -> Iterator[None]:
    """The suite's own operator stands aside while an all-namespaces one runs."""
    operator.stop()
    yield
    operator.start()


@pytest.mark.parametrize("variant", [CLUSTER_WIDE, NAMESPACED], ids=["cluster-wide", "namespaced"])
def test_operator_under_its_serviceaccount_builds_to_ready(
    variant: str,
    kubectl: Kubectl,
    local_env: dict[str, str],
    crd: str,
    kube: Kube,
    database: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    for who in install(kubectl, local_env, variant):
        if variant == CLUSTER_WIDE:
            request.getfixturevalue("paused_suite_operator")
            scope = ["--all-namespaces"]
        else:
            scope = ["--namespace", who.watched_namespace]
        kubeconfig = _token_kubeconfig(kubectl, local_env, who, tmp_path / "kubeconfig")
        log = tmp_path / "operator.log"
        process = _run_as(local_env, kubeconfig, scope, log)
        try:
            _build_one(kube, who.watched_namespace, database)
        finally:
            process.terminate()
            process.wait(20)
        text = log.read_text(errors="replace")
        assert "Forbidden" not in text and " 403" not in text, text[-3000:]
