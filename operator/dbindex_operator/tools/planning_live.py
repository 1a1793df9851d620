"""The effectful half of ``dbindex-operator plan``: Secrets and live objects from the API server
(runtime/kube.py), one pool and one catalog query per database (runtime/db.py), the rolled-back
definition probe when plan.decide asks for one; then tools/planning.py's pure parts decide,
describe and render. Nothing here writes to a database or to the API server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, Final, Protocol, TextIO

from dbindex_operator.core import catalog, errors, plan, settings
from dbindex_operator.runtime import db
from dbindex_operator.tools import planning
from dbindex_operator.tools.planning import CONNECTION, INVALID, Manifest, Row, UsageError

CONNECT_TIMEOUT: Final = 10.0
SERVER_SETTINGS: Final = {
    "application_name": "dbindex-operator-plan",
    "lock_timeout": "5s",
    "statement_timeout": "60s",
}


class Cluster(Protocol):
    """What the plan reads from the API server."""

    async def read_secret(self, namespace: str, name: str) -> dict[str, str]: ...

    async def read_object(self, namespace: str, name: str) -> Mapping[str, Any] | None: ...


def run(
    paths: Sequence[str],
    *,
    dsn: str | None,
    from_cluster: bool,
    namespace: str | None,
    output: str,
    stdin: TextIO,
    stdout: TextIO,
    stderr: TextIO,
) -> int:
    """The command: read the manifests, plan them, print the report; the exit code."""
    try:
        if (dsn is None) == (not from_cluster):
            raise UsageError("exactly one of --dsn and --from-cluster is required")
        manifests = planning.load(planning.read_sources(paths, stdin), namespace)
        if not manifests:
            raise UsageError(f"no DatabaseIndex manifests in {', '.join(paths)}")
        params = None
        if dsn is not None:
            try:
                params = db.params_from_secret({"dsn": dsn}, None)
            except errors.ConnectionProblem as exc:
                raise UsageError(f"--dsn: {exc.message}") from None
        cluster = _connect_cluster() if from_cluster else None
        rows = asyncio.run(plan_manifests(manifests, params=params, cluster=cluster))
    except UsageError as exc:
        print(f"dbindex-operator plan: {exc}", file=stderr)
        return planning.EXIT_PROBLEM
    stdout.write(planning.render(rows, output))
    if output != "table":
        for row in rows:
            if row.problem is not None:
                print(f"dbindex-operator plan: {row.label}: {row.detail}", file=stderr)
    return planning.exit_code(rows)


async def plan_manifests(
    manifests: Sequence[Manifest],
    *,
    params: db.ConnectParams | None,
    cluster: Cluster | None,
) -> list[Row]:
    """A row per manifest, in order: one pool and one catalog query per database (`params` for
    all, else each manifest's Secret read through `cluster`)."""
    rows: dict[int, Row] = {}
    groups: dict[db.ConnectParams, list[tuple[int, Manifest, plan.History]]] = {}
    secrets: dict[tuple[str, str], dict[str, str] | errors.ConnectionProblem] = {}
    for i, manifest in enumerate(manifests):
        spec = manifest.spec
        if spec is None:
            rows[i] = planning.error_row(manifest, INVALID, manifest.error or "invalid")
            continue
        if cluster is None:
            assert params is not None
            groups.setdefault(params, []).append((i, manifest, plan.History()))
            continue
        try:
            target = await _secret_params(cluster, secrets, manifest)
            live = await cluster.read_object(manifest.namespace, manifest.name)
        except errors.ConnectionProblem as exc:
            rows[i] = planning.error_row(manifest, CONNECTION, exc.message)
            continue
        history = planning.history_from_live(spec, live)
        groups.setdefault(target, []).append((i, manifest, history))
    for target, items in groups.items():
        rows.update(await _plan_database(target, items))
    return [rows[i] for i in range(len(manifests))]


async def _secret_params(
    cluster: Cluster,
    cache: dict[tuple[str, str], dict[str, str] | errors.ConnectionProblem],
    manifest: Manifest,
) -> db.ConnectParams:
    """The manifest's connection, its Secret read once per namespace and name."""
    assert manifest.spec is not None
    ref = manifest.spec.connection
    key = (manifest.namespace, ref.secret_name)
    if key not in cache:
        try:
            cache[key] = await cluster.read_secret(*key)
        except errors.ConnectionProblem as exc:
            cache[key] = exc
    data = cache[key]
    if isinstance(data, errors.ConnectionProblem):
        raise data
    try:
        return db.params_from_secret(data, ref.key)
    except errors.ConnectionProblem as exc:
        raise type(exc)(f"Secret {key[0]}/{key[1]}: {exc.message}") from None


async def _plan_database(
    params: db.ConnectParams, items: list[tuple[int, Manifest, plan.History]]
) -> dict[int, Row]:
    """One database: its catalog in one query, then each manifest decided (probing the desired
    definition when plan.decide asks, in a transaction that is rolled back)."""
    pool: Any = None
    try:
        pool = await db.create_pool(
            params, timeout=CONNECT_TIMEOUT, server_settings=SERVER_SETTINGS
        )
        targets = [(m.spec.schema, m.spec.table, m.spec.name) for _, m, _ in items if m.spec]
        states = await db.fetch_states(pool, targets, params)
        rows = {}
        for (i, manifest, history), state in zip(items, states, strict=True):
            rows[i] = await _decide(pool, params, manifest, state, history)
        return rows
    except errors.ConnectionProblem as exc:  # db.py redacts and names host:port/dbname only
        return {i: planning.error_row(m, CONNECTION, exc.message) for i, m, _ in items}
    finally:
        if pool is not None:
            await _close(pool)


async def _decide(
    pool: Any,
    params: db.ConnectParams,
    manifest: Manifest,
    state: catalog.IndexState,
    history: plan.History,
) -> Row:
    """Scheduler._decide without the acting: decide; on Probe, probe and decide again."""
    spec = manifest.spec
    assert spec is not None
    desired = planning.desired_signature(spec)
    action = plan.decide(spec, state, desired, history)
    if isinstance(action, plan.Probe):
        try:
            desired = await db.probe_signature(pool, spec, params)
        except errors.BuildFailure as failure:
            history = planning.after_probe_failure(spec, history, failure)
        action = plan.decide(spec, state, desired, history)
    return planning.row(manifest, state, action, managed=history.managed)


async def _close(pool: Any) -> None:
    try:
        async with asyncio.timeout(5):
            await pool.close()
    except Exception:
        pool.terminate()


# -- the API server ---------------------------------------------------------------------------


def _connect_cluster() -> Cluster:
    from dbindex_operator.runtime import kube

    try:
        client = kube.Client()
    except Exception as exc:
        raise UsageError(f"cannot load a Kubernetes configuration: {exc}") from None
    return _KubeCluster(client)


class _KubeCluster:
    """runtime/kube.py's Client, its failures as ConnectionProblems."""

    def __init__(self, client: Any) -> None:
        self._client = client

    async def read_secret(self, namespace: str, name: str) -> dict[str, str]:
        try:
            data: dict[str, str] = await self._client.read_secret(namespace, name)
        except errors.ConnectionProblem:
            raise
        except Exception as exc:  # the API server is not answering
            raise errors.ConnectionFailed(
                f"reading Secret {namespace}/{name} failed: {db.describe_error(exc)}"
            ) from None
        return data

    async def read_object(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        try:
            found: Mapping[str, Any] | None = await self._client.read_object(namespace, name)
        except errors.ConnectionProblem:
            raise
        except Exception as exc:  # the API server is not answering
            raise errors.ConnectionFailed(
                f"reading {settings.KIND} {namespace}/{name} failed: {db.describe_error(exc)}"
            ) from None
        return found
