"""Executors: one module per kind of work, behind one interface (base.py)."""

from __future__ import annotations

from dbindex_operator.core import plan
from dbindex_operator.runtime import tracking
from dbindex_operator.runtime.executors import base, build, drop, probe


def for_action(
    ctx: base.Context, tracked: tracking.Tracked, action: plan.Action
) -> base.Executor | None:
    """The executor that carries out a plan action; None for actions that are only reported."""
    if isinstance(action, plan.Probe):
        return probe.Probe(ctx, tracked)
    if isinstance(action, plan.Build):
        return build.Build(ctx, tracked)
    if isinstance(action, plan.DropLeftover):
        return drop.DropLeftover(ctx, tracked)
    return None
