"""Executors: one module per kind of work, behind one interface (base.py)."""

from __future__ import annotations

from dbindex_operator.core import actions, catalog, plan
from dbindex_operator.runtime import tracking
from dbindex_operator.runtime.executors import (
    base,
    build,
    drop,
    maintenance,
    partition,
    probe,
    replace,
)


def for_action(
    ctx: base.Context, tracked: tracking.Tracked, action: plan.Action, state: catalog.IndexState
) -> base.Executor | None:
    """The executor that carries out a plan action; None for actions that are only reported."""
    if isinstance(action, plan.Probe):
        return probe.Probe(ctx, tracked)
    if isinstance(action, plan.Build):
        return build.Build(ctx, tracked, drift=action.drift)
    if isinstance(action, plan.DropLeftover):
        return drop.DropLeftover(ctx, tracked, drift=action.drift)
    if isinstance(action, plan.BuildReplacement):
        return build.BuildReplacement(ctx, tracked, action.differences, drift=action.drift)
    if isinstance(action, plan.Swap):
        return replace.Swap(ctx, tracked, state)
    if isinstance(action, (plan.DropRetired, plan.DropReplacement)):
        return replace.DropNamed(
            ctx,
            tracked,
            retired=isinstance(action, plan.DropRetired),
            concurrently=state.table_kind != "p",
        )
    if isinstance(action, (actions.CreateParents, actions.AttachPartitions)):
        return partition.Statements(ctx, tracked, action, state)
    if isinstance(action, actions.BuildPartition):
        return partition.BuildPartition(ctx, tracked, state, action.table, action.index)
    if isinstance(action, actions.DropPartitionLeftover):
        return partition.DropPartitionLeftover(ctx, tracked, state, action.table, action.index)
    if isinstance(action, actions.Reindex):
        return maintenance.Reindex(ctx, tracked, action.reason, action.message)
    if isinstance(action, actions.Verify):
        return maintenance.Verify(ctx, tracked)
    if isinstance(action, actions.DropReindexLeftover):
        return maintenance.DropReindexLeftover(ctx, tracked, action.name)
    return None
