"""The plugin's only way to the API server: the `kubectl` that runs it.

Why kubectl and not runtime/kube.py: a kubectl plugin is started by kubectl, so kubectl is on
PATH and already knows the user's kubeconfig, context, namespace and credential plugins (exec,
OIDC); calling it back honours every one of them exactly as `kubectl get` does, `--context` and
`--kubeconfig` pass straight through, and no second client (in-cluster config first, async
wrappers, made for the operator) has to be taught them. The price, a process per call, is a few
per second at most: `--watch` polls once a second.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from collections.abc import Sequence
from typing import Any, Final

from dbindex_operator.core import settings

RESOURCE: Final = f"{settings.PLURAL}.{settings.GROUP}"
TIMEOUT: Final = 60.0


class ClusterError(RuntimeError):
    """kubectl failed; the message is its stderr."""


@dataclasses.dataclass(frozen=True)
class Kubectl:
    """kubectl with the user's global flags (--context, --kubeconfig) on every call."""

    flags: tuple[str, ...] = ()
    binary: str = dataclasses.field(default_factory=lambda: os.environ.get("KUBECTL", "kubectl"))

    def run(self, *args: str, input: str | None = None) -> str:
        command = [self.binary, *self.flags, *args]
        try:
            result = subprocess.run(
                command, input=input, capture_output=True, text=True, timeout=TIMEOUT
            )
        except FileNotFoundError:
            raise ClusterError(f"{self.binary} is not on PATH") from None
        except subprocess.TimeoutExpired:
            raise ClusterError(f"kubectl {' '.join(args)} took more than {TIMEOUT:.0f}s") from None
        if result.returncode != 0:
            raise ClusterError(result.stderr.strip() or f"kubectl exited {result.returncode}")
        return result.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "-o", "json"))

    def objects(
        self, namespace: str | None, all_namespaces: bool, selector: str | None
    ) -> list[dict[str, Any]]:
        """The DatabaseIndex objects in scope, sorted by namespace and name."""
        args = ["get", RESOURCE, *_scope(namespace, all_namespaces)]
        if selector:
            args += ["-l", selector]
        items: list[dict[str, Any]] = self.json(*args).get("items") or []
        return sorted(items, key=_key)

    def get(self, namespace: str | None, name: str) -> dict[str, Any]:
        found: dict[str, Any] = self.json("get", RESOURCE, name, *_scope(namespace, False))
        return found

    def events(self, namespace: str, name: str) -> list[dict[str, Any]]:
        """Events about the object (core/v1, as the operator posts them)."""
        selector = f"involvedObject.name={name},involvedObject.kind={settings.KIND}"
        found = self.json("get", "events", "-n", namespace, "--field-selector", selector)
        items: list[dict[str, Any]] = found.get("items") or []
        return items

    def annotate(self, namespace: str | None, name: str, key: str, value: str) -> None:
        self.run(
            "annotate", RESOURCE, name, f"{key}={value}", "--overwrite", *_scope(namespace, False)
        )

    def merge_patch(self, namespace: str | None, name: str, patch: dict[str, Any]) -> None:
        self.run(
            "patch",
            RESOURCE,
            name,
            "--type",
            "merge",
            "-p",
            json.dumps(patch),
            *_scope(namespace, False),
        )


def _scope(namespace: str | None, all_namespaces: bool) -> Sequence[str]:
    if all_namespaces:
        return ["--all-namespaces"]
    return ["-n", namespace] if namespace else []  # else the context's namespace


def _key(obj: dict[str, Any]) -> tuple[str, str]:
    metadata = obj.get("metadata") or {}
    return str(metadata.get("namespace") or ""), str(metadata.get("name") or "")
