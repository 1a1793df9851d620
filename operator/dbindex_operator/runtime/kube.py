"""The only module that talks to the Kubernetes API besides Kopf itself: reading Secrets,
patching status and finalizers, posting Events. The `kubernetes` client is synchronous, so every
call runs in a worker thread; Kopf's event loop never blocks on it. Every write passes one
adaptive token bucket (core/pacing.py): an overloaded API server gets fewer writes, not a storm
of retries."""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import datetime
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import kubernetes
import urllib3
from kubernetes.client.exceptions import ApiException

from dbindex_operator.core import errors, pacing, settings

logger = logging.getLogger(__name__)
T = TypeVar("T")
JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"


class Conflict(Exception):
    """A guarded JSON patch whose `test` failed (422) or a version conflict (409): the object
    is not as the patch expected; read it again."""


class Client:
    def __init__(
        self, write_rate: float = 300.0, write_burst: float = 50.0, parallel: int = 32
    ) -> None:
        self.bucket = pacing.Bucket(ceiling=write_rate, burst=write_burst)
        self.slowdowns = 0
        try:
            kubernetes.config.load_incluster_config()  # type: ignore[no-untyped-call]
        except kubernetes.config.ConfigException:
            kubernetes.config.load_kube_config()  # type: ignore[no-untyped-call]
        # Writes are latency-bound, not CPU-bound: a first start sends two per object, and a
        # loaded API server answers each in tens of milliseconds. asyncio's default executor
        # (cores + 4 threads) capped a first start at ~10 objects/s; the bucket, not the thread
        # count, is what limits the rate.
        self._threads = concurrent.futures.ThreadPoolExecutor(parallel, "kube")
        config = kubernetes.client.Configuration.get_default_copy()
        # The writes' threads plus asyncio's default ones (reads): a connection the pool has no
        # room for is closed, and the next request pays a new TLS handshake.
        config.connection_pool_maxsize = parallel + 8
        # Plain requests through the client's transport (auth, TLS, token refresh), without its
        # generated API classes: importing CoreV1Api alone costs 21 MB and seconds of start-up,
        # and its pydantic-validated calls were a fifth of the CPU of a first start (py-spy,
        # docs/benchmarks.md "Memory and CPU per object").
        self._api = kubernetes.client.ApiClient(config)

    def _request(
        self,
        method: str,
        path: str,
        body: Any = None,
        content_type: str = "application/json",
    ) -> Any:
        """One request in this thread; the decoded JSON answer. Raises ApiException."""
        serialized = self._api.param_serialize(
            method=method,
            resource_path=path,
            header_params={"Accept": "application/json", "Content-Type": content_type},
            body=body,
            auth_settings=["BearerToken"],
        )
        response = self._api.call_api(*serialized)
        response.read()  # type: ignore[no-untyped-call]
        if not 200 <= response.status <= 299:
            raise ApiException.from_response(http_resp=response, body=None, data=None)
        return json.loads(response.data) if response.data else None

    async def read_secret(self, namespace: str, name: str) -> dict[str, str]:
        """The Secret's data, decoded. Raises SecretNotFound."""

        def read() -> dict[str, str]:
            try:
                secret = self._request("GET", f"/api/v1/namespaces/{namespace}/secrets/{name}")
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
            data = secret.get("data") or {}
            return {
                key: base64.b64decode(value).decode("utf-8", "replace")
                for key, value in data.items()
            }

        return await asyncio.to_thread(read)

    async def read_object(self, namespace: str, name: str) -> dict[str, Any] | None:
        """A DatabaseIndex as the API server has it; None when it does not exist."""

        def read() -> dict[str, Any] | None:
            try:
                found: dict[str, Any] = self._request("GET", _object_path(namespace, name))
            except ApiException as exc:
                if exc.status == 404:
                    return None
                raise errors.ConnectionFailed(
                    f"reading {settings.KIND} {namespace}/{name} failed: HTTP {exc.status}"
                ) from None
            return found

        try:
            return await asyncio.to_thread(read)
        except (OSError, urllib3.exceptions.HTTPError) as exc:
            raise errors.ConnectionFailed(f"reading {namespace}/{name}: {exc}") from None

    async def _write(self, call: Callable[[], T]) -> T:
        """Run one write in a thread when the bucket allows; slow the bucket down when the API
        server says it is overloaded (the caller still sees the error and decides to retry)."""
        loop = asyncio.get_running_loop()
        wait = self.bucket.take(loop.time())
        if wait > 0:
            await asyncio.sleep(wait)
        try:
            result = await loop.run_in_executor(self._threads, call)
        except ApiException as exc:
            if pacing.overloaded(exc.status, f"{exc.reason} {exc.body}"):
                self._overloaded(f"HTTP {exc.status}")
            raise
        except (OSError, urllib3.exceptions.HTTPError) as exc:  # timeouts, dropped connections
            self._overloaded(type(exc).__name__)
            raise
        self.bucket.succeeded()
        return result

    def _overloaded(self, what: str) -> None:
        if self.bucket.slow_down(asyncio.get_running_loop().time()):
            self.slowdowns += 1
            logger.warning(
                "the API server is overloaded (%s): writing at most %.0f/s for now",
                what,
                self.bucket.rate,
            )

    async def patch_status(self, namespace: str, name: str, patch: Mapping[str, Any]) -> bool:
        """Merge-patch .status; False when the object is gone."""

        def call() -> bool:
            try:
                self._request(
                    "PATCH",
                    _object_path(namespace, name) + "/status",
                    {"status": dict(patch)},
                    MERGE_PATCH,
                )
            except ApiException as exc:
                if exc.status == 404:
                    return False
                raise
            return True

        return await self._write(call)

    async def patch_object(
        self, namespace: str, name: str, patch: list[dict[str, Any]]
    ) -> dict[str, Any] | None:
        """JSON-patch a DatabaseIndex (its metadata); the object as patched, None when it is
        gone. Raises Conflict when a guard failed, ConnectionFailed on anything else."""

        def call() -> dict[str, Any] | None:
            try:
                found: dict[str, Any] = self._request(
                    "PATCH", _object_path(namespace, name), patch, JSON_PATCH
                )
            except ApiException as exc:
                if exc.status == 404:
                    return None
                raise
            return found

        try:
            return await self._write(call)
        except ApiException as exc:
            if exc.status in (409, 422):
                raise Conflict(f"HTTP {exc.status}: the object changed") from None
            raise errors.ConnectionFailed(
                f"patching {settings.KIND} {namespace}/{name} failed: HTTP {exc.status}"
            ) from None
        except (OSError, urllib3.exceptions.HTTPError) as exc:
            raise errors.ConnectionFailed(f"patching {namespace}/{name}: {exc}") from None

    async def post_event(
        self, ref: Mapping[str, str], kind: str, reason: str, message: str
    ) -> None:
        """A core/v1 Event about the object `ref` (namespace, name, uid). Best effort."""
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{ref['name']}.", "namespace": ref["namespace"]},
            "involvedObject": {
                "apiVersion": f"{settings.GROUP}/{settings.VERSION}",
                "kind": settings.KIND,
                "name": ref["name"],
                "namespace": ref["namespace"],
                "uid": ref.get("uid"),
            },
            "reason": reason,
            "message": message[:1024],
            "type": kind,
            "source": {"component": "dbindex-operator"},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "reportingComponent": "dbindex.dev/operator",
            "reportingInstance": "dbindex-operator",
        }

        def call() -> None:
            self._request("POST", f"/api/v1/namespaces/{ref['namespace']}/events", body)

        try:
            await self._write(call)
        except (ApiException, OSError, urllib3.exceptions.HTTPError) as exc:
            logger.warning("could not post event %s for %s: %s", reason, ref["name"], exc)

    async def read_peering(self, name: str) -> dict[str, Any]:
        """The status of the ClusterKopfPeering `name`: each replica's keep-alive. Raises
        PeeringUnavailable when it cannot be read."""

        def call() -> dict[str, Any]:
            try:
                body = self._request("GET", f"/apis/kopf.dev/v1/clusterkopfpeerings/{name}")
            except ApiException as exc:
                raise PeeringUnavailable(name, exc.status) from None
            except (OSError, urllib3.exceptions.HTTPError) as exc:  # connection errors
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
                self._request("GET", f"/apis/{group}/{version}/{plural}/{name}")
                return False
            except ApiException as exc:
                if exc.status != 404:
                    raise PeeringUnavailable(name, exc.status) from None
            body = {"apiVersion": f"{group}/{version}", "kind": "ClusterKopfPeering"}
            try:
                self._request(
                    "POST",
                    f"/apis/{group}/{version}/{plural}",
                    {**body, "metadata": {"name": name}},
                )
            except ApiException as exc:
                if exc.status == 409:  # another replica created it meanwhile
                    return False
                raise PeeringUnavailable(name, exc.status) from None
            return True

        return await asyncio.to_thread(call)


def _object_path(namespace: str, name: str) -> str:
    return (
        f"/apis/{settings.GROUP}/{settings.VERSION}/namespaces/{namespace}/{settings.PLURAL}/{name}"
    )


class PeeringUnavailable(Exception):
    def __init__(self, name: str, status: int | None) -> None:
        super().__init__(
            f"ClusterKopfPeering {name!r}: HTTP {status} (is Kopf's peering CRD "
            "clusterkopfpeerings.kopf.dev installed, and may the operator get/create it?)"
        )
