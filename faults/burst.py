"""Scenario 9: a burst of new objects on one database; every one handled, none stranded.

The regression test of issue #21 item 3 (root cause in operator/.../runtime/lookout.py): the
operator under test reaches the API server through faults/proxy.py, which answers a share of
Kopf's finalizer JSON-patches with the API server's own 504 "Timeout: request did not complete
within requested timeout" after letting the write land, the accident a real start burst
produced. Without the fix, every object so hit kept its finalizer and never got a status.

The indexes exist already (plain CREATE INDEX on empty tables), so the run measures handling,
not building: each object is adopted and Ready. Under deletionPolicy Delete, so that each one
gets our finalizer at first sight (runtime/holding.py; an adopted Retain object gets none) and
the proxy has finalizer patches to fault. Stranded = a finalizer and no status phase; every
object must end Ready and held.
"""

from __future__ import annotations

import concurrent.futures
import time
import uuid
from typing import Any

from tests.harness import pg
from tests.harness.kube import GROUP, PLURAL, VERSION
from tests.harness.process import Operator

from faults.context import Context, Run, invalid_indexes, kubectl_patiently, operator_settings
from faults.proxy import ApiProxy

PREFIX = "faultburst-"  # not under the suite operator's `faults-*`: only the proxied one sees it
TABLES = 20
PICKED_UP = "never ran its handlers"  # runtime/lookout.py's warning
FINALIZER = "dbindex.dev/finalizer"


def _plan(total: int) -> list[tuple[str, str, str]]:
    """(index name, table, column) for each object: TABLES tables, one column per index."""
    return [(f"i_{j:05d}", f"t{j % TABLES:02d}", f"c{j // TABLES:03d}") for j in range(total)]


def _prepare(dsn: str, plan: list[tuple[str, str, str]]) -> None:
    columns: dict[str, list[str]] = {}
    for _, table, column in plan:
        columns.setdefault(table, []).append(column)
    script = [
        f"CREATE TABLE {t} ({', '.join(f'{c} int' for c in cs)})" for t, cs in columns.items()
    ]
    script += [f"CREATE INDEX {name} ON {table} ({column})" for name, table, column in plan]
    pg.execute(dsn, ";\n".join(script))


def _body(name: str, table: str, column: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "DatabaseIndex",
        "metadata": {"name": name.replace("_", "-")},
        "spec": {
            "connection": {"secretRef": {"name": "db"}},
            "table": table,
            "name": name,
            "columns": [{"column": column}],
            "deletionPolicy": "Delete",
        },
    }


def _census(ctx: Context, namespace: str) -> tuple[int, int, int, int]:
    """(objects, Ready, stranded: finalizer and no status phase, held: our finalizer)."""
    items = ctx.kube.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)[
        "items"
    ]
    ready = sum((o.get("status") or {}).get("phase") == "Ready" for o in items)
    stranded = sum(
        bool(o["metadata"].get("finalizers")) and not (o.get("status") or {}).get("phase")
        for o in items
    )
    held = sum(FINALIZER in (o["metadata"].get("finalizers") or ()) for o in items)
    return len(items), ready, stranded, held


def burst(ctx: Context) -> Run:
    run = Run()
    total = ctx.burst
    plan = _plan(total)
    namespace = ctx.namespace(PREFIX)
    dsn = ctx.database()
    _prepare(dsn, plan)
    ctx.kube.secret(namespace, "db", {"dsn": dsn})
    proxy = ApiProxy(ctx.env, share=ctx.burst_share, seed=ctx.seed)
    proxy.start()
    kubeconfig = proxy.kubeconfig(ctx.log_dir / f"proxy-{uuid.uuid4().hex[:6]}.kubeconfig")
    operator = Operator(
        {**ctx.env, "KUBECONFIG": str(kubeconfig)},
        ctx.log_dir,
        namespaces=[f"{PREFIX}*"],
        settings=operator_settings(),
        log_level="info",
        name="burst-operator",
    )
    operator.start()
    log_from = operator.log_path.stat().st_size
    try:
        began = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            bodies = [_body(*item) for item in plan]
            list(
                pool.map(
                    lambda b: ctx.kube.custom.create_namespaced_custom_object(
                        GROUP, VERSION, namespace, PLURAL, b
                    ),
                    bodies,
                )
            )
        created = time.monotonic() - began
        deadline = time.monotonic() + max(300.0, total * 0.3)
        ready, stranded, held = 0, 0, 0
        while time.monotonic() < deadline:
            operator.check_alive()
            _, ready, stranded, held = _census(ctx, namespace)
            if ready == held == total:
                break
            time.sleep(2)
        all_ready = time.monotonic() - began
        log = operator.log()[log_from:]
        run.figures.update(
            objects=total,
            created_in_s=round(created, 2),
            ready=ready,
            stranded=stranded,
            held=held,
            all_ready_after_s=round(all_ready, 2) if ready == total else None,
            injected_504=len(proxy.injected),
            picked_up_by_lookout=log.count(PICKED_UP),
            share_504=ctx.burst_share,
        )
        run.ok = ready == held == total and stranded == 0
        if not run.ok:
            run.error = (
                f"{ready}/{total} Ready, {held}/{total} held, "
                f"{stranded} stranded (finalizer, no status)"
            )
        run.recover_s = round(all_ready, 2)
        run.invalid_left = invalid_indexes(dsn)
    finally:
        operator.stop()
        proxy.stop()
    _release(ctx, namespace)
    return run


def _release(ctx: Context, namespace: str) -> None:
    """Deleting is not what this scenario measures: with the operator stopped, take the
    finalizers off (in parallel) so that the namespace goes at once."""
    items = ctx.kube.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
    names = [item["metadata"]["name"] for item in items["items"]]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda name: _unfinalize(ctx, namespace, name), names))
    kubectl_patiently(ctx.env, "delete", "namespace", namespace, "--wait=false")


def _unfinalize(ctx: Context, namespace: str, name: str, tries: int = 5) -> None:
    """Take the finalizers off; the run is measured already, so an overloaded API server's 504
    here is retried, and in the end left to the namespace's deletion, not fatal."""
    for attempt in range(tries):
        try:
            ctx.kube.patch(namespace, name, {"metadata": {"finalizers": None}})
            return
        except Exception:  # best effort: a 504 or timeout of a loaded API server
            time.sleep(1 + attempt)
