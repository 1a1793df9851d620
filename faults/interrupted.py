"""Scenarios 1-4: a build interrupted from outside at a random moment.

Each run: a fresh copy of the `big` database, one slow build, the fault at a moment drawn from
the suite's seeded generator (uniform over the calibrated build time, counted from the moment
the build's backend appears), then: Ready, no INVALID index left, exactly the one index, and
never two CREATE INDEX sessions on the table at once. Recovery: from the end of the fault to
Ready.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from tests.harness import pg

from faults.context import BuildWatch, Context, Run, big_spec, indexes_on, invalid_indexes

Fault = Callable[[Context, str, int], float]
"""(context, dsn, builder pid) -> the monotonic time the fault ended."""


def _random_moment(ctx: Context, run: Run) -> None:
    delay = ctx.random.uniform(0.0, ctx.build_seconds * 0.9)
    run.figures["fault_after_s"] = round(delay, 3)
    time.sleep(delay)


def interrupted(ctx: Context, fault: Fault, objects: int = 1) -> Run:
    run = Run()
    namespace, dsn = ctx.target(big=True)
    names = ["big-k", "big-id"][:objects]
    with BuildWatch(ctx.admin) as watch:
        ctx.kube.create(namespace, names[0], big_spec(names[0]))
        if objects > 1:  # queued behind the first (one build per table): must not get stuck
            ctx.kube.create(namespace, names[1], big_spec(names[1], columns=[{"column": "id"}]))
        pid = ctx.builder_pid(dsn)
        _random_moment(ctx, run)
        ended = fault(ctx, dsn, pid)
        ready = max(ctx.wait_ready(namespace, name) for name in names)
    run.ok = True
    run.recover_s = round(ready - ended, 3)
    run.invalid_left = invalid_indexes(dsn)
    run.duplicate_builds = watch.duplicates + max(0, indexes_on(dsn, "big") - objects)
    return run


def _sigkill(ctx: Context, dsn: str, pid: int) -> float:
    assert ctx.operator is not None
    ctx.operator.kill()
    killed = time.monotonic()
    ctx.operator.start()
    return killed


def _terminate(ctx: Context, dsn: str, pid: int) -> float:
    pg.query(ctx.admin, "SELECT pg_terminate_backend($1)", pid)
    return time.monotonic()


def _pg_restart(ctx: Context, dsn: str, pid: int) -> float:
    ctx.postgres.restart_immediate()
    return time.monotonic()


def _pg_stopped(ctx: Context, dsn: str, pid: int) -> float:
    ctx.postgres.stop()
    try:
        time.sleep(ctx.pg_down)
    finally:
        ctx.postgres.start()
    return time.monotonic()


def _apiserver_stopped(ctx: Context, dsn: str, pid: int) -> float:
    ctx.apiserver.stop()
    time.sleep(5)  # the build goes on meanwhile; its status patches fail
    return ctx.apiserver.start()


def sigkill(ctx: Context) -> Run:
    return interrupted(ctx, _sigkill)


def terminate_backend(ctx: Context) -> Run:
    return interrupted(ctx, _terminate)


def pg_restart(ctx: Context) -> Run:
    return interrupted(ctx, _pg_restart)


def pg_stopped(ctx: Context) -> Run:
    run = interrupted(ctx, _pg_stopped)
    run.figures["down_s"] = ctx.pg_down
    return run


def apiserver_stopped(ctx: Context) -> Run:
    return interrupted(ctx, _apiserver_stopped, objects=2)
