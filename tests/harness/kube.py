"""kubectl and the Kubernetes API of the local environment, with DatabaseIndex helpers."""

from __future__ import annotations

import shlex
import subprocess
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import kubernetes
from kubernetes.client.exceptions import ApiException

from tests.harness import HarnessError

GROUP, VERSION, PLURAL, KIND = "dbindex.dev", "v1alpha1", "databaseindexes", "DatabaseIndex"
CRD_NAME = f"{PLURAL}.{GROUP}"


class Kubectl(Protocol):
    """``kubectl(*args, input=None, check=True, timeout=60) -> CompletedProcess[str]``."""

    def __call__(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]: ...


def kubectl(
    env: Mapping[str, str],
    *args: str,
    input: str | None = None,
    check: bool = True,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """Run the ``kubectl`` on ``env``'s PATH against ``env``'s KUBECONFIG; text mode, output
    captured. With ``check`` a non-zero exit raises HarnessError showing the command, stdout and
    stderr."""
    result = subprocess.run(
        ["kubectl", *args],
        env=dict(env),
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise HarnessError(
            f"kubectl {shlex.join(args)} exited {result.returncode}\n"
            f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
        )
    return result


_TRANSIENT = frozenset({429, 500, 503, 504})


class Kube:
    """The Python client on ``env["KUBECONFIG"]``: Secrets, DatabaseIndex objects, their status
    and events, waiting for a condition."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = dict(env)
        self.api = kubernetes.config.new_client_from_config(config_file=self.env["KUBECONFIG"])
        self.core = kubernetes.client.CoreV1Api(self.api)
        self.custom = kubernetes.client.CustomObjectsApi(self.api)

    def secret(
        self,
        namespace: str,
        name: str,
        data: Mapping[str, str],
        labels: Mapping[str, str] | None = None,
    ) -> None:
        """Create or replace Secret ``name`` holding ``data`` (stringData)."""
        metadata: dict[str, Any] = {"name": name}
        if labels:
            metadata["labels"] = dict(labels)
        body = {"metadata": metadata, "stringData": dict(data)}
        try:
            self.core.create_namespaced_secret(namespace, body)
        except ApiException as exc:
            if exc.status != 409:
                raise
            self.core.replace_namespaced_secret(name, namespace, body)

    def create(
        self,
        namespace: str,
        name: str,
        spec: dict[str, Any],
        annotations: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": KIND,
            "metadata": {"name": name, "annotations": annotations or {}},
            "spec": spec,
        }
        result: dict[str, Any] = self.custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, body
        )
        return result

    def get(self, namespace: str, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self.custom.get_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name
        )
        return result

    def exists(self, namespace: str, name: str) -> bool:
        try:
            self.get(namespace, name)
            return True
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise

    def patch(self, namespace: str, name: str, patch: dict[str, Any]) -> None:
        self.custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name, patch)

    def delete(self, namespace: str, name: str) -> None:
        self.custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)

    def status(self, namespace: str, name: str) -> dict[str, Any]:
        status: dict[str, Any] = self.get(namespace, name).get("status") or {}
        return status

    def condition(self, namespace: str, name: str, kind: str) -> dict[str, Any]:
        for condition in self.status(namespace, name).get("conditions") or ():
            if condition["type"] == kind:
                return dict(condition)
        return {}

    def events(self, namespace: str, name: str | None = None) -> list[Any]:
        items = self.core.list_namespaced_event(namespace).items
        return [e for e in items if name is None or e.involved_object.name == name]

    def event_reasons(self, namespace: str, name: str) -> list[str]:
        return [e.reason for e in self.events(namespace, name)]

    def wait(
        self,
        namespace: str,
        name: str,
        predicate: Callable[[dict[str, Any]], bool],
        timeout: float = 60,
        what: str = "condition",
    ) -> dict[str, Any]:
        """Poll the object's status until predicate(status) holds; return that status."""
        deadline = time.monotonic() + timeout
        status: dict[str, Any] = {}
        while time.monotonic() < deadline:
            try:
                status = self.status(namespace, name)
            except ApiException as exc:
                # A loaded API server answers 504/503/429 now and then: ask again, as any
                # client would (a CI run failed on one GET of this loop).
                if exc.status not in _TRANSIENT:
                    raise
                time.sleep(0.5)
                continue
            if predicate(status):
                return status
            time.sleep(0.2)
        raise HarnessError(f"{namespace}/{name}: timed out waiting for {what}; last {status}")

    def wait_gone(self, namespace: str, name: str, timeout: float = 60) -> float:
        """Wait until the object no longer exists; return how long that took."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if not self.exists(namespace, name):
                return time.monotonic() - started
            time.sleep(0.2)
        raise HarnessError(f"{namespace}/{name} was not deleted within {timeout}s")

    def wait_phase(
        self, namespace: str, name: str, phase: str, timeout: float = 60
    ) -> dict[str, Any]:
        return self.wait(
            namespace, name, lambda s: s.get("phase") == phase, timeout, what=f"phase {phase}"
        )
