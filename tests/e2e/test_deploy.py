"""The Kustomize manifests in deploy/ and the image's command on the real API server.

A server-side dry run of exactly what `kubectl apply -k` sends, the rendered objects, the RBAC
proven with `kubectl auth can-i --as=system:serviceaccount:...` on a real install, and the
Dockerfile's ENTRYPOINT + CMD started against the server. The image recipe itself is read without
a server in tests/unit/test_deploy.py; the CRD copy in deploy/base/crds/ is checked by
tests/unit/test_generated.py.

The RBAC install is isolated: the rendered objects are applied with their two namespaces mapped
to fresh test namespaces and their cluster-scoped names suffixed, so the test neither collides
with another run nor touches the CRD that other tests use. Only names and namespaces change;
rules, verbs and bindings are applied exactly as written.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.harness.process import free_port
from tests.unit.test_deploy import final_stage

ROOT = Path(__file__).resolve().parents[2]
CRD_SOURCE = ROOT / "crds" / "databaseindexes.dbindex.dev.yaml"
CLUSTER_WIDE = "deploy"
NAMESPACED = "deploy/overlays/namespaced"

OPERATOR_NAMESPACE = "dbindex-system"
WATCHED_NAMESPACE = "apps"
"""The namespace the namespaced overlay watches (the Role's namespace in role.yaml)."""
NAME = "dbindex-operator"

Kubectl = Callable[..., subprocess.CompletedProcess[str]]
Obj = dict[str, Any]


# -- the image's command ---------------------------------------------------------------------------


def test_the_image_command_starts_and_answers_liveness(local_env: dict[str, str]) -> None:
    """ENTRYPOINT + CMD exactly as the Dockerfile names them, run outside Docker against the real
    API server (with the liveness flag the manifests add): it starts and reports itself alive."""
    stage = dict(final_stage())
    command = json.loads(stage["ENTRYPOINT"]) + json.loads(stage["CMD"])
    port = free_port()
    executable = ROOT / ".venv" / "bin" / command[0]
    env = {**local_env, "DBINDEX_METRICS_PORT": "0"}
    process = subprocess.Popen(
        [str(executable), *command[1:], f"--liveness=http://127.0.0.1:{port}/healthz"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        # Generous: at nice 15 on a loaded 2-core machine (`make matrix`) the start took > 30 s.
        deadline = time.monotonic() + 300
        while True:
            assert process.poll() is None, process.communicate()[0].decode(errors="replace")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, "no liveness answer within 300 s"
                time.sleep(0.2)
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0].decode(errors="replace")
    assert process.returncode == 0, output
    assert "Traceback" not in output, output


# -- the manifests, rendered by kubectl kustomize --------------------------------------------------


def render(local_env: dict[str, str], path: str) -> list[Obj]:
    result = subprocess.run(
        ["kubectl", "kustomize", str(ROOT / path)],
        env=local_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def find(docs: list[Obj], kind: str, name: str = NAME, namespace: str | None = None) -> Obj:
    matches = [
        doc
        for doc in docs
        if doc["kind"] == kind
        and doc["metadata"]["name"] == name
        and (namespace is None or doc["metadata"].get("namespace") == namespace)
    ]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} objects"
    return matches[0]


def rule_set(rules: list[Obj]) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


APPLICATION_RULES = {
    *(("dbindex.dev", "databaseindexes", v) for v in ("get", "list", "watch", "patch")),
    ("dbindex.dev", "databaseindexes/status", "patch"),
    ("", "secrets", "get"),
    ("", "events", "create"),
}
KOPF_CRD_RULES = {
    ("apiextensions.k8s.io", "customresourcedefinitions", "list"),
    ("apiextensions.k8s.io", "customresourcedefinitions", "watch"),
}
KOPF_NAMESPACE_RULES = {("", "namespaces", "list"), ("", "namespaces", "watch")}
KOPF_PEERING_RULES = {
    ("kopf.dev", "clusterkopfpeerings", v) for v in ("get", "list", "watch", "patch", "create")
}


def test_cluster_wide_rendering(local_env: dict[str, str]) -> None:
    docs = render(local_env, CLUSTER_WIDE)
    kinds = sorted((doc["kind"], doc["metadata"]["name"]) for doc in docs)
    assert kinds == sorted(
        [
            ("Namespace", OPERATOR_NAMESPACE),
            ("CustomResourceDefinition", "databaseindexes.dbindex.dev"),
            ("CustomResourceDefinition", "clusterkopfpeerings.kopf.dev"),
            ("ServiceAccount", NAME),
            ("ClusterRole", NAME),
            ("ClusterRoleBinding", NAME),
            ("Deployment", NAME),
            ("PodDisruptionBudget", NAME),
        ]
    )
    assert find(docs, "CustomResourceDefinition", "databaseindexes.dbindex.dev") == (
        yaml.safe_load(CRD_SOURCE.read_text())
    )
    assert rule_set(find(docs, "ClusterRole")["rules"]) == (
        KOPF_CRD_RULES | KOPF_PEERING_RULES | APPLICATION_RULES
    )
    subjects = find(docs, "ClusterRoleBinding")["subjects"]
    assert subjects == [{"kind": "ServiceAccount", "name": NAME, "namespace": OPERATOR_NAMESPACE}]
    args = container(find(docs, "Deployment"))["args"]
    assert args[0] == "--all-namespaces"


def test_namespaced_rendering(local_env: dict[str, str]) -> None:
    docs = render(local_env, NAMESPACED)
    assert rule_set(find(docs, "ClusterRole")["rules"]) == (
        KOPF_CRD_RULES | KOPF_NAMESPACE_RULES | KOPF_PEERING_RULES
    )
    role = find(docs, "Role", namespace=WATCHED_NAMESPACE)
    assert rule_set(role["rules"]) == APPLICATION_RULES
    binding = find(docs, "RoleBinding", namespace=WATCHED_NAMESPACE)
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": NAME,
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": NAME, "namespace": OPERATOR_NAMESPACE}
    ]
    args = container(find(docs, "Deployment"))["args"]
    assert args[0] == f"--namespace={WATCHED_NAMESPACE}"
    assert "--all-namespaces" not in args
    assert not [
        doc
        for doc in docs
        if doc["kind"] in {"Role", "RoleBinding"}
        and doc["metadata"]["namespace"] != WATCHED_NAMESPACE
    ]


def container(deployment: Obj) -> Obj:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    assert isinstance(only, dict)
    return only


@pytest.mark.parametrize("path", [CLUSTER_WIDE, NAMESPACED])
def test_deployment_is_hardened(local_env: dict[str, str], path: str) -> None:
    deployment = find(render(local_env, path), "Deployment")
    spec = deployment["spec"]
    # Two replicas with hot standby (Kopf peering), rolled one at a time, one kept through drains.
    assert spec["replicas"] == 2
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
    }
    assert "--peering=dbindex-operator" in container(deployment)["args"]
    budget = find(render(local_env, path), "PodDisruptionBudget")["spec"]
    assert budget["maxUnavailable"] == 1
    assert budget["selector"] == spec["selector"]
    pod = spec["template"]["spec"]
    assert pod["serviceAccountName"] == NAME
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    main = container(deployment)
    assert main["image"] == "dbindex-operator:0.1.0"
    security = main["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert set(main["resources"]) == {"requests", "limits"}
    assert "--liveness=http://0.0.0.0:8080/healthz" in main["args"]
    probe = main["livenessProbe"]["httpGet"]
    assert probe == {"path": "/healthz", "port": "health"}
    ports = {port["name"]: port["containerPort"] for port in main["ports"]}
    assert ports == {"health": 8080, "metrics": 9090}
    env = {item["name"]: item["value"] for item in main["env"]}
    assert env["DBINDEX_METRICS_PORT"] == "9090"
    assert {"name": "tmp", "mountPath": "/tmp"} in main["volumeMounts"]
    assert {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}} in pod["volumes"]


# -- the manifests on the real API server ---------------------------------------------------------


@pytest.fixture(scope="module")
def install_namespaces(kubectl: Kubectl, crd: str) -> Iterator[None]:
    """The namespaces the manifests name (dbindex-system, apps), real and labelled as written.

    A server-side dry run cannot create a Namespace and then put objects in it, so they must
    exist. Only namespaces this fixture created are deleted afterwards.
    """
    created = []
    for name in (OPERATOR_NAMESPACE, WATCHED_NAMESPACE):
        if kubectl("get", "namespace", name, check=False).returncode != 0:
            created.append(name)
    # Applied for real so that the PodSecurity label (enforce: restricted) is in effect.
    kubectl("apply", "-f", str(ROOT / "deploy" / "base" / "namespace.yaml"))
    if WATCHED_NAMESPACE in created:
        kubectl("create", "namespace", WATCHED_NAMESPACE)
    yield
    for name in created:
        kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


@pytest.mark.usefixtures("install_namespaces")
@pytest.mark.parametrize("path", [CLUSTER_WIDE, NAMESPACED])
def test_kubectl_apply_k_server_dry_run(kubectl: Kubectl, path: str) -> None:
    result = kubectl("apply", "--dry-run=server", "-k", str(ROOT / path))
    assert "(server dry run)" in result.stdout
    assert "deployment.apps/dbindex-operator" in result.stdout
    # The namespace enforces the "restricted" Pod Security Standard: any violation by the pod
    # template shows up as a warning on the Deployment.
    assert "PodSecurity" not in result.stderr, result.stderr


@dataclass(frozen=True)
class Install:
    """An isolated real install of one variant: where its names ended up."""

    operator_namespace: str
    watched_namespace: str
    other_namespace: str
    service_account: str = NAME

    @property
    def user(self) -> str:
        return f"system:serviceaccount:{self.operator_namespace}:{self.service_account}"


def isolate(docs: list[Obj], suffix: str, namespaces: dict[str, str]) -> list[Obj]:
    """The rendered objects with namespaces mapped and cluster-scoped names suffixed.

    The CRD (installed by the ``crd`` fixture) and the Namespace objects (replaced by test
    namespaces) are left out; nothing else changes.
    """
    result = []
    for doc in docs:
        kind, meta = doc["kind"], doc["metadata"]
        if kind in {"CustomResourceDefinition", "Namespace"}:
            continue
        if "namespace" in meta:
            meta["namespace"] = namespaces[meta["namespace"]]
        if kind in {"ClusterRole", "ClusterRoleBinding"}:
            meta["name"] = f"{meta['name']}-{suffix}"
        if kind == "ClusterRoleBinding":
            doc["roleRef"]["name"] = f"{doc['roleRef']['name']}-{suffix}"
        for subject in doc.get("subjects", []):
            subject["namespace"] = namespaces[subject["namespace"]]
        if kind == "Deployment":
            main = container(doc)
            main["args"] = [
                f"--namespace={namespaces[arg.partition('=')[2]]}"
                if arg.startswith("--namespace=")
                else arg
                for arg in main["args"]
            ]
        result.append(doc)
    return result


def install(kubectl: Kubectl, local_env: dict[str, str], path: str) -> Iterator[Install]:
    suffix = uuid.uuid4().hex[:8]
    names = Install(f"t-{suffix}-op", f"t-{suffix}-apps", f"t-{suffix}-other")
    for namespace in (names.operator_namespace, names.watched_namespace, names.other_namespace):
        kubectl("create", "namespace", namespace)
    docs = isolate(
        render(local_env, path),
        suffix,
        {OPERATOR_NAMESPACE: names.operator_namespace, WATCHED_NAMESPACE: names.watched_namespace},
    )
    cluster_scoped = [
        f"{doc['kind'].lower()}/{doc['metadata']['name']}"
        for doc in docs
        if doc["kind"] in {"ClusterRole", "ClusterRoleBinding"}
    ]
    try:
        kubectl("apply", "-f", "-", input=yaml.safe_dump_all(docs))
        yield names
    finally:
        kubectl("delete", *cluster_scoped, "--ignore-not-found", check=False)
        for namespace in (names.operator_namespace, names.watched_namespace, names.other_namespace):
            kubectl("delete", "namespace", namespace, "--wait=false", check=False)


@pytest.fixture(scope="module")
def cluster_wide_install(
    kubectl: Kubectl, local_env: dict[str, str], crd: str
) -> Iterator[Install]:
    yield from install(kubectl, local_env, CLUSTER_WIDE)


@pytest.fixture(scope="module")
def namespaced_install(kubectl: Kubectl, local_env: dict[str, str], crd: str) -> Iterator[Install]:
    yield from install(kubectl, local_env, NAMESPACED)


WATCHED = "watched"
OTHER = "other"
OPERATOR = "operator"
CLUSTER = "cluster"
"""Where a can-i question is asked: in the watched namespace, in a namespace the operator must
not touch, in the operator's own namespace, or cluster-wide (no namespace / all namespaces)."""

DBI = "databaseindexes.dbindex.dev"
CRDS = "customresourcedefinitions.apiextensions.k8s.io"


def can_i(kubectl: Kubectl, who: Install, verb: str, resource: str, where: str) -> bool:
    scope = {
        WATCHED: ["-n", who.watched_namespace],
        OTHER: ["-n", who.other_namespace],
        OPERATOR: ["-n", who.operator_namespace],
        CLUSTER: ["--all-namespaces"],
    }[where]
    resource, _, subresource = resource.partition("/")
    extra = [f"--subresource={subresource}"] if subresource else []
    result = kubectl(
        "auth", "can-i", verb, resource, *extra, *scope, f"--as={who.user}", check=False
    )
    answer = result.stdout.strip()
    assert answer in {"yes", "no"}, result.stdout + result.stderr
    return answer == "yes"


# What the operator does (and Kopf for it): every row must be allowed.
USED = [
    ("list", CRDS, CLUSTER),
    ("watch", CRDS, CLUSTER),
    ("get", DBI, WATCHED),
    ("list", DBI, WATCHED),
    ("watch", DBI, WATCHED),
    ("patch", DBI, WATCHED),
    ("patch", f"{DBI}/status", WATCHED),
    ("get", "secrets", WATCHED),
    ("create", "events", WATCHED),
    # Kopf peering of the replicas (and the operator creating the peering object if missing).
    *((verb, "clusterkopfpeerings.kopf.dev", CLUSTER) for verb in ("get", "list", "watch")),
    *((verb, "clusterkopfpeerings.kopf.dev", CLUSTER) for verb in ("patch", "create")),
]
# What it must never do, in any variant: every row must be denied.
NEVER = [
    ("delete", "secrets", WATCHED),
    ("list", "secrets", WATCHED),
    ("watch", "secrets", WATCHED),
    ("patch", "secrets", WATCHED),
    ("update", "secrets", WATCHED),
    ("create", "secrets", WATCHED),
    ("create", DBI, WATCHED),
    ("update", DBI, WATCHED),
    ("delete", DBI, WATCHED),
    ("deletecollection", DBI, WATCHED),
    ("update", f"{DBI}/status", WATCHED),
    ("get", CRDS, CLUSTER),
    ("create", CRDS, CLUSTER),
    ("update", CRDS, CLUSTER),
    ("patch", CRDS, CLUSTER),
    ("delete", CRDS, CLUSTER),
    ("get", "kopfpeerings.kopf.dev", WATCHED),
    ("delete", "clusterkopfpeerings.kopf.dev", CLUSTER),
    ("update", "clusterkopfpeerings.kopf.dev", CLUSTER),
    ("get", "widgets.example.com", WATCHED),
    ("list", "widgets.example.com", CLUSTER),
    ("create", "pods", WATCHED),
    ("get", "pods", WATCHED),
    ("get", "configmaps", WATCHED),
    ("create", "serviceaccounts/token", OPERATOR),
    ("patch", "events", WATCHED),
    ("delete", "events", WATCHED),
    ("create", "events.events.k8s.io", WATCHED),
    ("create", "leases.coordination.k8s.io", OPERATOR),
    ("impersonate", "serviceaccounts", CLUSTER),
    ("create", "clusterrolebindings.rbac.authorization.k8s.io", CLUSTER),
    ("escalate", "clusterroles.rbac.authorization.k8s.io", CLUSTER),
]
CLUSTER_WIDE_ALSO_USED = [
    # Watching all namespaces: cluster-wide watches, Secrets and Events in any namespace.
    ("list", DBI, CLUSTER),
    ("watch", DBI, CLUSTER),
    ("get", "secrets", OTHER),
    ("create", "events", OTHER),
]
CLUSTER_WIDE_ALSO_NEVER = [
    # With --all-namespaces Kopf never reads Namespace objects.
    ("list", "namespaces", CLUSTER),
    ("get", "namespaces", CLUSTER),
]
NAMESPACED_ALSO_USED = [
    # With --namespace Kopf observes Namespaces to (re)start its watch.
    ("list", "namespaces", CLUSTER),
    ("watch", "namespaces", CLUSTER),
]
NAMESPACED_ALSO_NEVER = [
    # Nothing outside the watched namespace, not even in the operator's own.
    ("get", "secrets", OTHER),
    ("get", "secrets", OPERATOR),
    ("get", DBI, OTHER),
    ("list", DBI, OTHER),
    ("patch", DBI, OTHER),
    ("patch", f"{DBI}/status", OTHER),
    ("create", "events", OTHER),
    ("list", DBI, CLUSTER),
    ("watch", DBI, CLUSTER),
    ("get", "namespaces", CLUSTER),
    ("delete", "namespaces", CLUSTER),
]


def rows(table: list[tuple[str, str, str]], allowed: bool) -> list[Any]:
    return [
        pytest.param(verb, resource, where, allowed, id=f"{verb}-{resource}-{where}")
        for verb, resource, where in table
    ]


@pytest.mark.parametrize(
    ("verb", "resource", "where", "allowed"),
    rows(USED + CLUSTER_WIDE_ALSO_USED, True) + rows(NEVER + CLUSTER_WIDE_ALSO_NEVER, False),
)
def test_cluster_wide_rbac(
    kubectl: Kubectl,
    cluster_wide_install: Install,
    verb: str,
    resource: str,
    where: str,
    allowed: bool,
) -> None:
    assert can_i(kubectl, cluster_wide_install, verb, resource, where) is allowed


@pytest.mark.parametrize(
    ("verb", "resource", "where", "allowed"),
    rows(USED + NAMESPACED_ALSO_USED, True) + rows(NEVER + NAMESPACED_ALSO_NEVER, False),
)
def test_namespaced_rbac(
    kubectl: Kubectl,
    namespaced_install: Install,
    verb: str,
    resource: str,
    where: str,
    allowed: bool,
) -> None:
    assert can_i(kubectl, namespaced_install, verb, resource, where) is allowed
