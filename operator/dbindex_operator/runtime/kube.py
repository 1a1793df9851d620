"""The only module that talks to the Kubernetes API besides Kopf itself: reading Secrets,
patching status, posting Events. The `kubernetes` client is synchronous, so every call runs in a
worker thread; Kopf's event loop never blocks on it."""

from __future__ import annotations

import asyncio
import base64
import datetime
import logging
from collections.abc import Mapping
from typing import Any

import kubernetes
from kubernetes.client.exceptions import ApiException

from dbindex_operator.core import errors, settings

logger = logging.getLogger(__name__)


class Client:
    def __init__(self) -> None:
        try:
            kubernetes.config.load_incluster_config()  # type: ignore[no-untyped-call]
        except kubernetes.config.ConfigException:
            kubernetes.config.load_kube_config()  # type: ignore[no-untyped-call]
        api = kubernetes.client.ApiClient()
        self._core = kubernetes.client.CoreV1Api(api)
        self._custom = kubernetes.client.CustomObjectsApi(api)

    async def read_secret(self, namespace: str, name: str) -> dict[str, str]:
        """The Secret's data, decoded. Raises SecretNotFound."""

        def read() -> dict[str, str]:
            try:
                secret = self._core.read_namespaced_secret(name, namespace)
            except ApiException as exc:
                if exc.status == 404:
                    raise errors.SecretNotFound(
                        f"Secret {namespace}/{name} does not exist"
                    ) from None
                if exc.status == 403:
                    raise errors.SecretNotFound(
                        f"not allowed to read Secret {namespace}/{name}"
                    ) from None
                raise errors.ConnectionFailed(
                    f"reading Secret {namespace}/{name} failed: HTTP {exc.status}"
                ) from None
            data = secret.data or {}
            return {
                key: base64.b64decode(value).decode("utf-8", "replace")
                for key, value in data.items()
            }

        return await asyncio.to_thread(read)

    async def read_object(self, namespace: str, name: str) -> dict[str, Any] | None:
        """A DatabaseIndex as the API server has it; None when it does not exist."""

        def read() -> dict[str, Any] | None:
            try:
                found: Any = self._custom.get_namespaced_custom_object(
                    settings.GROUP, settings.VERSION, namespace, settings.PLURAL, name
                )
            except ApiException as exc:
                if exc.status == 404:
                    return None
                raise errors.ConnectionFailed(
                    f"reading {settings.KIND} {namespace}/{name} failed: HTTP {exc.status}"
                ) from None
            return dict(found)

        return await asyncio.to_thread(read)

    async def patch_status(self, namespace: str, name: str, patch: Mapping[str, Any]) -> bool:
        """Merge-patch .status; False when the object is gone."""

        def call() -> bool:
            try:
                self._custom.patch_namespaced_custom_object_status(
                    settings.GROUP,
                    settings.VERSION,
                    namespace,
                    settings.PLURAL,
                    name,
                    {"status": dict(patch)},
                )
            except ApiException as exc:
                if exc.status == 404:
                    return False
                raise
            return True

        return await asyncio.to_thread(call)

    async def post_event(
        self, ref: Mapping[str, str], kind: str, reason: str, message: str
    ) -> None:
        """A core/v1 Event about the object `ref` (namespace, name, uid). Best effort."""
        now = datetime.datetime.now(datetime.UTC)
        body = kubernetes.client.CoreV1Event(
            metadata=kubernetes.client.V1ObjectMeta(
                generate_name=f"{ref['name']}.", namespace=ref["namespace"]
            ),
            involved_object=kubernetes.client.V1ObjectReference(
                api_version=f"{settings.GROUP}/{settings.VERSION}",
                kind=settings.KIND,
                name=ref["name"],
                namespace=ref["namespace"],
                uid=ref.get("uid"),
            ),
            reason=reason,
            message=message[:1024],
            type=kind,
            source=kubernetes.client.V1EventSource(component="dbindex-operator"),
            first_timestamp=now,
            last_timestamp=now,
            count=1,
            reporting_component="dbindex.dev/operator",
            reporting_instance="dbindex-operator",
        )

        def call() -> None:
            try:
                self._core.create_namespaced_event(ref["namespace"], body)
            except ApiException as exc:
                logger.warning(
                    "could not post event %s for %s: HTTP %s", reason, ref["name"], exc.status
                )

        await asyncio.to_thread(call)

    async def read_peering(self, name: str) -> dict[str, Any]:
        """The status of the ClusterKopfPeering `name`: each replica's keep-alive. Raises
        PeeringUnavailable when it cannot be read."""

        def call() -> dict[str, Any]:
            try:
                body = self._custom.get_cluster_custom_object(
                    "kopf.dev", "v1", "clusterkopfpeerings", name
                )
            except ApiException as exc:
                raise PeeringUnavailable(name, exc.status) from None
            except OSError as exc:  # urllib3's connection errors
                raise PeeringUnavailable(name, None) from exc
            status = body.get("status") if isinstance(body, dict) else None
            return dict(status or {})

        return await asyncio.to_thread(call)

    async def ensure_peering(self, name: str) -> bool:
        """Create the ClusterKopfPeering `name` unless it exists; True if this call created it.
        Kopf only patches that object: without it, every keep-alive fails silently and every
        replica would be active. Raises PeeringUnavailable when it can be neither read nor
        created (the CRD is missing, or RBAC forbids it)."""
        group, version, plural = "kopf.dev", "v1", "clusterkopfpeerings"

        def call() -> bool:
            try:
                self._custom.get_cluster_custom_object(group, version, plural, name)
                return False
            except ApiException as exc:
                if exc.status != 404:
                    raise PeeringUnavailable(name, exc.status) from None
            body = {"apiVersion": f"{group}/{version}", "kind": "ClusterKopfPeering"}
            try:
                self._custom.create_cluster_custom_object(
                    group, version, plural, {**body, "metadata": {"name": name}}
                )
            except ApiException as exc:
                if exc.status == 409:  # another replica created it meanwhile
                    return False
                raise PeeringUnavailable(name, exc.status) from None
            return True

        return await asyncio.to_thread(call)


class PeeringUnavailable(Exception):
    def __init__(self, name: str, status: int | None) -> None:
        super().__init__(
            f"ClusterKopfPeering {name!r}: HTTP {status} (is Kopf's peering CRD "
            "clusterkopfpeerings.kopf.dev installed, and may the operator get/create it?)"
        )
