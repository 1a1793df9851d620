"""Deleting an object, as a state the scheduler drives (phase Deleting), never a wait inside the
Kopf handler. Each pass decides from the catalog (core/plan.decide_deletion) what is left to do,
so an operator killed at any step resumes where the database says it is."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from dbindex_operator.core import catalog, errors, plan, policy
from dbindex_operator.runtime import reporter, tracking
from dbindex_operator.runtime.executors import base, drop

logger = logging.getLogger(__name__)


def stop_work(tracked: tracking.Tracked) -> None:
    """Cancel the object's build or definition check; the drop of a deletion runs on."""
    job, pending = tracked.job, tracked.deletion
    if job is None or pending is None or job.kind == "delete":
        return
    if job.kind == "build":
        pending.was_building = True  # Retain must still drop the cancelled build's leftover
    if not job.cancelled:
        logger.info("%s: cancelling its %s", tracked.label, job.kind)
    job.cancel()


def step(
    ctx: base.Context, tracked: tracking.Tracked, state: catalog.IndexState
) -> base.Executor | None:
    """The executor the deletion needs now, or None (released, or waiting)."""
    pending, spec = tracked.deletion, tracked.spec
    assert pending is not None and spec is not None
    action = plan.decide_deletion(spec, state, working=tracked.job is not None)
    if isinstance(action, plan.DropIndex):
        return drop.DropForDeletion(
            ctx,
            tracked,
            only_invalid=action.only_invalid,
            name=action.name,
            schema=action.schema,
            concurrently=action.concurrently,
        )
    if isinstance(action, policy.Release):
        logger.info("%s: %s", tracked.label, action.message)
        drop.finish(ctx.reporter, tracked, action)
        return None
    if isinstance(action, plan.WaitForBuild):
        verdict = policy.deletion_after_error(
            delete_with_object=spec.delete_with_object,
            was_building=True,
            elapsed=ctx.clock() - pending.started_at,
            timeout=ctx.config.deletion_timeout,
            index=f"{spec.schema}.{spec.name}",
            problem=f"backend {action.progress.pid} is still building it",
        )
        if isinstance(verdict, policy.Release):
            drop.finish(ctx.reporter, tracked, verdict)
    return None


def connection_problem(
    to: reporter.Reporter,
    objects: Sequence[tracking.Tracked],
    exc: errors.ConnectionProblem,
    delay: float,
    *,
    now: float,
    timeout: float,
) -> None:
    """The database or its Secret cannot be reached: tell each object without a job (one being
    deleted may be released, core/policy.deletion_after_error)."""
    for tracked in objects:
        if tracked.spec is None or tracked.job is not None:
            continue
        if tracked.deletion is not None:
            unreachable(to, tracked, exc.message, now=now, timeout=timeout)
        else:
            to.connection_problem(tracked, exc, delay)


def unreachable(
    to: reporter.Reporter, tracked: tracking.Tracked, problem: str, *, now: float, timeout: float
) -> None:
    """The database (or its Secret) cannot be reached while the object is being deleted."""
    pending, spec = tracked.deletion, tracked.spec
    assert pending is not None and spec is not None
    verdict = policy.deletion_after_error(
        delete_with_object=spec.delete_with_object,
        was_building=pending.was_building,
        elapsed=now - pending.started_at,
        timeout=timeout,
        index=f"{spec.schema}.{spec.name}",
        problem=problem,
    )
    if isinstance(verdict, policy.Release):
        logger.warning("%s: %s", tracked.label, verdict.message)
        drop.finish(to, tracked, verdict)
