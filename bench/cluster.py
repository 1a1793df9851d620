"""PostgreSQL and Kubernetes helpers for the scenarios, on top of tests/harness/.

PostgreSQL: psql for what the runbook side runs (it is the thing measured) and for bulk SQL;
the harness's asyncpg one-shots for small queries. Kubernetes: kubectl for the applies (the
user's path), the harness's Python client for the rest, and a StatusWatcher that timestamps
every change of DatabaseIndex objects as it arrives through a watch (sub-second resolution, no
polling load on the API server).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import kubernetes
import urllib3
from kubernetes.client.exceptions import ApiException
from tests.harness import HarnessError
from tests.harness import kube as harness_kube
from tests.harness.kube import GROUP, PLURAL, VERSION
from tests.harness.pg import execute, query, with_database

BENCH_LABEL = "dbindex.dev/bench"  # on every namespace and object the bench creates
NAMESPACE_PREFIX = "bench-"
DATABASE_PREFIX = "bench_"

BenchError = HarnessError
"""A scenario could not run (not a missed target: those are results). The harness's own error,
so that a failure inside it (the operator exited, kubectl failed) is reported the same way."""


# -- PostgreSQL ---------------------------------------------------------------------------------


def psql(
    env: dict[str, str],
    dsn: str,
    *,
    file: Path | None = None,
    command: str | None = None,
    script: str | None = None,
    variables: dict[str, str] | None = None,
    timeout: float = 3600,
) -> tuple[float, str]:
    """Run psql (ON_ERROR_STOP, no psqlrc); return (wall seconds, output). Raises on failure."""
    args = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn]
    for name, value in (variables or {}).items():
        args += ["-v", f"{name}={value}"]
    if file is not None:
        args += ["-f", str(file)]
    if command is not None:
        args += ["-c", command]
    if script is not None:
        args += ["-f", "-"]
    started = time.monotonic()
    result = subprocess.run(
        args, env=env, input=script, capture_output=True, text=True, timeout=timeout
    )
    took = time.monotonic() - started
    if result.returncode != 0:
        what = file or command or "a script"
        raise BenchError(f"psql {what} failed ({result.returncode}): {result.stderr.strip()}")
    return took, result.stdout


def create_database(admin_dsn: str, name: str, template: str | None = None) -> str:
    """(Re)create database `name`, optionally as a FILE_COPY clone of `template`; its DSN."""
    drop_database(admin_dsn, name)
    sql = f'CREATE DATABASE "{name}"'
    if template is not None:
        sql += f' TEMPLATE "{template}" STRATEGY FILE_COPY'
    execute(admin_dsn, sql)
    return with_database(admin_dsn, name)


def drop_database(admin_dsn: str, name: str) -> None:
    execute(admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def drop_bench_databases(admin_dsn: str) -> list[str]:
    rows = query(
        admin_dsn,
        "SELECT datname FROM pg_database WHERE datname LIKE $1 AND NOT datistemplate",
        DATABASE_PREFIX + "%",
    )
    names = [row["datname"] for row in rows]
    for name in names:
        drop_database(admin_dsn, name)
    return names


def checkpoint(admin_dsn: str) -> None:
    """Flush dirty buffers so that the next measured step does not pay for the previous one."""
    execute(admin_dsn, "CHECKPOINT")


def index_validity(dsn: str, names: Sequence[str], schema: str = "public") -> dict[str, bool]:
    """{index name: indisvalid} for those of `names` that exist."""
    rows = query(
        dsn,
        """
        SELECT i.relname, x.indisvalid FROM pg_index x
        JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_namespace n ON n.oid = i.relnamespace
        WHERE n.nspname = $1 AND i.relname = ANY($2::text[])""",
        schema,
        list(names),
    )
    return {row["relname"]: bool(row["indisvalid"]) for row in rows}


def drop_indexes(dsn: str, names: Sequence[str], schema: str = "public") -> None:
    """Plain DROP INDEX (nothing else runs on the bench databases): fast."""
    if names:
        quoted = ", ".join(f'"{schema}"."{name}"' for name in names)
        execute(dsn, f"DROP INDEX IF EXISTS {quoted}")


def server_facts(admin_dsn: str) -> dict[str, Any]:
    names = (
        "server_version",
        "fsync",
        "synchronous_commit",
        "full_page_writes",
        "shared_buffers",
        "maintenance_work_mem",
        "max_parallel_maintenance_workers",
        "max_worker_processes",
        "max_connections",
        "wal_level",
        "autovacuum",
    )
    rows = query(
        admin_dsn, "SELECT name, setting, unit FROM pg_settings WHERE name = ANY($1)", list(names)
    )
    settings = {row["name"]: _setting(row["setting"], row["unit"]) for row in rows}
    return {
        "pg_version": settings.pop("server_version", None),
        "fsync": settings.pop("fsync", None),
        "pg_settings": settings,
    }


def _setting(value: str, unit: str | None) -> str:
    return f"{value} {unit}" if unit else value


# -- Kubernetes ---------------------------------------------------------------------------------


class Kube(harness_kube.Kube):
    """The harness's client, plus what the bench needs: kubectl applies, labelled namespaces and
    Secrets, bulk listing and cleanup."""

    # kubectl: what users run
    def kubectl(
        self, *args: str, input: str | None = None, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        return harness_kube.kubectl(self.env, *args, input=input, timeout=timeout)

    def apply(self, path: Path, namespace: str | None = None, server_side: bool = False) -> float:
        """`kubectl apply -f path`; returns its wall time."""
        args = ["apply", "-f", str(path)]
        if namespace:
            args += ["-n", namespace]
        if server_side:
            args += ["--server-side", "--field-manager", "dbindex-bench"]
        started = time.monotonic()
        self.kubectl(*args, timeout=1800)
        return time.monotonic() - started

    def apply_parallel(self, paths: Sequence[Path], server_side: bool = True) -> float:
        """Several `kubectl apply -f` at once (one per chunk file); returns the wall time."""
        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(paths) or 1) as pool:
            list(pool.map(lambda p: self.apply(p, server_side=server_side), paths))
        return time.monotonic() - started

    def server_version(self) -> str | None:
        try:
            info = kubernetes.client.VersionApi(self.api).get_code()
            return str(info.git_version)
        except Exception:
            return self.env.get("K8S_VERSION")

    def crd_installed(self) -> bool:
        try:
            kubernetes.client.ApiextensionsV1Api(self.api).read_custom_resource_definition(
                f"{PLURAL}.{GROUP}"
            )
            return True
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise

    def namespace(self, name: str) -> None:
        body = {"metadata": {"name": name, "labels": {BENCH_LABEL: "true"}}}
        try:
            self.core.create_namespace(body)
        except ApiException as exc:
            if exc.status != 409:
                raise
        # A namespace from an earlier run may still be terminating.
        deadline = time.monotonic() + 120
        while self.core.read_namespace(name).status.phase != "Active":
            if time.monotonic() > deadline:
                raise BenchError(f"namespace {name} stays Terminating")
            time.sleep(0.5)

    def secret(
        self,
        namespace: str,
        name: str,
        data: Mapping[str, str],
        labels: Mapping[str, str] | None = None,
    ) -> None:
        super().secret(namespace, name, data, {BENCH_LABEL: "true", **(labels or {})})

    def bench_namespaces(self) -> list[str]:
        items = self.core.list_namespace(label_selector=f"{BENCH_LABEL}=true").items
        return [ns.metadata.name for ns in items]

    def delete_namespaces(self, names: Iterable[str], timeout: float = 600) -> None:
        """Delete and wait until they are gone (the operator must run: objects have finalizers)."""
        names = list(names)
        for name in names:
            try:
                self.core.delete_namespace(name)
            except ApiException as exc:
                if exc.status != 404:
                    raise
        self.wait_namespaces_gone(names, timeout)

    def wait_namespaces_gone(self, names: Sequence[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        left = set(names)
        while left:
            present = {ns.metadata.name for ns in self.core.list_namespace().items}
            left &= present
            if not left:
                return
            if time.monotonic() > deadline:
                raise BenchError(f"namespaces not gone after {timeout:.0f}s: {sorted(left)}")
            time.sleep(1)

    def strip_finalizers(self, namespaces: Iterable[str]) -> int:
        """Remove finalizers from DatabaseIndex objects in `namespaces` (leftovers of an aborted
        run, when no operator runs to release them). Returns how many were patched."""
        count = 0
        for namespace in namespaces:
            items = self.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
            with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
                futures = [
                    pool.submit(
                        self.custom.patch_namespaced_custom_object,
                        GROUP,
                        VERSION,
                        namespace,
                        PLURAL,
                        item["metadata"]["name"],
                        {"metadata": {"finalizers": None}},
                    )
                    for item in items["items"]
                    if item["metadata"].get("finalizers")
                ]
                for future in futures:
                    try:
                        future.result()
                        count += 1
                    except ApiException as exc:
                        if exc.status != 404:
                            raise
        return count

    def list_objects(self, label_selector: str | None = None) -> list[dict[str, Any]]:
        """Every DatabaseIndex (all namespaces), paginated."""
        items: list[dict[str, Any]] = []
        token = None
        while True:
            kwargs: dict[str, Any] = {"limit": 2000}
            if label_selector:
                kwargs["label_selector"] = label_selector
            if token:
                kwargs["_continue"] = token
            page = _retrying(
                lambda kw=kwargs: self.custom.list_cluster_custom_object(
                    GROUP, VERSION, PLURAL, **kw
                )
            )
            items += page["items"]
            token = page["metadata"].get("continue")
            if not token:
                return items


def _retrying(call: Callable[[], Any], attempts: int = 6, pause: float = 2.0) -> Any:
    """Retry a read while an overloaded API server answers 5xx, 429 or times out."""
    for attempt in range(attempts):
        try:
            return call()
        except ApiException as exc:
            if exc.status not in (429, 500, 502, 503, 504) or attempt == attempts - 1:
                raise
        except urllib3.exceptions.HTTPError:
            if attempt == attempts - 1:
                raise
        time.sleep(pause)
    raise AssertionError("unreachable")


def is_ready(obj: dict[str, Any]) -> bool:
    """Ready for the object's current generation."""
    status = obj.get("status") or {}
    return status.get("phase") == "Ready" and status.get("observedGeneration") == obj.get(
        "metadata", {}
    ).get("generation")


def object_key(obj: dict[str, Any]) -> tuple[str, str]:
    meta = obj["metadata"]
    return meta["namespace"], meta["name"]


# -- watching status ----------------------------------------------------------------------------


@dataclasses.dataclass
class Change:
    """One observed version of an object: when it arrived (monotonic) and what it said."""

    at: float
    resource_version: str
    phase: str | None
    status: dict[str, Any]


class StatusWatcher:
    """Watches every DatabaseIndex (cluster-wide, optionally by label), keeps the objects of
    `namespaces`, and timestamps each change on arrival. Start it BEFORE creating objects."""

    def __init__(self, kube: Kube, namespaces: Iterable[str], label_selector: str | None = None):
        self.kube = kube
        self.namespaces = set(namespaces)
        self.label_selector = label_selector
        self.changes: dict[tuple[str, str], list[Change]] = {}
        self.ready_at: dict[tuple[str, str], float] = {}
        self.failed: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._watch: kubernetes.watch.Watch | None = None
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def __enter__(self) -> StatusWatcher:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        initial = self._list()
        self._thread = threading.Thread(
            target=self._run, args=(initial,), name="status-watcher", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._watch is not None:
            self._watch.stop()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _list(self) -> str:
        kwargs: dict[str, Any] = {}
        if self.label_selector:
            kwargs["label_selector"] = self.label_selector
        listing = self.kube.custom.list_cluster_custom_object(GROUP, VERSION, PLURAL, **kwargs)
        now = time.monotonic()
        for item in listing["items"]:
            self._record(item, now)
        return str(listing["metadata"]["resourceVersion"])

    def _run(self, resource_version: str) -> None:
        while not self._stop.is_set():
            self._watch = kubernetes.watch.Watch()
            kwargs: dict[str, Any] = {"resource_version": resource_version, "timeout_seconds": 60}
            if self.label_selector:
                kwargs["label_selector"] = self.label_selector
            try:
                for event in self._watch.stream(
                    self.kube.custom.list_cluster_custom_object, GROUP, VERSION, PLURAL, **kwargs
                ):
                    now = time.monotonic()
                    obj = event["object"]
                    if event["type"] == "ERROR":
                        if obj.get("code") == 410:  # expired: list again
                            resource_version = self._list()
                            break
                        continue
                    resource_version = obj["metadata"]["resourceVersion"]
                    if event["type"] in ("ADDED", "MODIFIED"):
                        self._record(obj, now)
                    if self._stop.is_set():
                        break
            except ApiException as exc:
                if exc.status == 410:
                    resource_version = self._list()
                    continue
                self.error = exc
                time.sleep(0.5)
            except Exception as exc:  # a dropped stream: resume from where we were
                if self._stop.is_set():
                    return
                self.error = exc
                time.sleep(0.2)

    def _record(self, obj: dict[str, Any], now: float) -> None:
        key = object_key(obj)
        if key[0] not in self.namespaces:
            return
        status = obj.get("status") or {}
        with self._cond:
            history = self.changes.setdefault(key, [])
            if history and history[-1].status == status:
                return  # metadata-only change (finalizer, Kopf annotations)
            history.append(
                Change(now, obj["metadata"]["resourceVersion"], status.get("phase"), status)
            )
            if is_ready(obj) and key not in self.ready_at:
                self.ready_at[key] = now
            if status.get("phase") == "Failed":
                self.failed[key] = str(
                    next(
                        (
                            c.get("message")
                            for c in status.get("conditions") or ()
                            if c.get("type") == "Ready"
                        ),
                        "",
                    )
                )
            self._cond.notify_all()

    def wait_ready(
        self,
        keys: Iterable[tuple[str, str]],
        timeout: float,
        alive: Callable[[], None] | None = None,
    ) -> float:
        """Wait until every key has been seen Ready; return the monotonic time of the last one.
        `alive` is called about every second and may raise (e.g. the operator died)."""
        wanted = set(keys)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                missing = wanted - set(self.ready_at)
                if not missing:
                    return max(self.ready_at[k] for k in wanted)
                failed = {k: self.failed[k] for k in missing if k in self.failed}
                if failed:
                    key, message = next(iter(failed.items()))
                    raise BenchError(f"{key[0]}/{key[1]} Failed: {message}")
                if time.monotonic() > deadline:
                    sample = sorted(missing)[:3]
                    raise BenchError(
                        f"{len(missing)} of {len(wanted)} objects not Ready after {timeout:.0f}s "
                        f"(e.g. {sample}); watcher error: {self.error!r}"
                    )
                self._cond.wait(timeout=1.0)
                if alive is not None:
                    self._cond.release()
                    try:
                        alive()
                    finally:
                        self._cond.acquire()

    def history(self, key: tuple[str, str]) -> list[Change]:
        with self._lock:
            return list(self.changes.get(key, ()))
