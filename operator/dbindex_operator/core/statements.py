"""The SQL each action runs, in order. Pure. The operator's executors send exactly these texts
(through core/sql.py), and `status.plan` and the `plan` command show them."""

from __future__ import annotations

import dataclasses

from dbindex_operator.core import actions, catalog, names, partitions, sql
from dbindex_operator.core import spec as specs


def statements(
    spec: specs.IndexSpec, state: catalog.IndexState, action: actions.Action
) -> list[str]:
    """The SQL an action runs, in order (a replacement: all of its remaining steps)."""
    old, new = names.retired(spec.name), names.replacement(spec.name)
    concurrently = state.table_kind != "p"  # an index on a partitioned table: plain DROP
    swap = [
        "BEGIN",
        *swap_body(spec, state),
        "COMMIT",
        sql.drop_index(spec.schema, old, concurrently=concurrently),
    ]
    if isinstance(action, actions.Build):
        return [sql.create_index(spec)]
    if isinstance(action, actions.DropLeftover):
        return [sql.drop_index(spec.schema, spec.name)]
    if isinstance(action, actions.BuildReplacement):
        return [sql.create_index(spec, name=new), *swap]
    if isinstance(action, actions.DropReplacement):
        return [sql.drop_index(spec.schema, new, concurrently=concurrently)]
    if isinstance(action, actions.Swap):
        return swap
    if isinstance(action, actions.DropRetired):
        return [sql.drop_index(spec.schema, old, concurrently=concurrently)]
    if isinstance(action, actions.Reindex):
        return [sql.reindex(spec.schema, spec.name)]
    if isinstance(action, actions.Verify):
        return [sql.verify(spec.schema, spec.name)]
    if isinstance(action, actions.DropReindexLeftover):
        return [sql.drop_index(spec.schema, action.name)]
    return _partition_statements(spec, state.partitions, action)


def _partition_statements(
    spec: specs.IndexSpec, tree: tuple[partitions.Node, ...], action: actions.Action
) -> list[str]:
    by_oid = {node.oid: node for node in tree}
    index_of = {i.oid: (node, i) for node in tree for i in node.indexes}

    def table(node: partitions.Node) -> str:
        return sql.qualified(node.schema, node.name)

    if isinstance(action, actions.CreateParents):
        spec = dataclasses.replace(spec, name=action.index)
        return [
            sql.create_index(
                spec,
                concurrently=False,
                table=table(by_oid[oid]),
                name=partitions.index_name(spec, tree, by_oid[oid]),
                only=True,
                if_not_exists=True,
            )
            for oid in action.tables
        ]
    if isinstance(action, actions.AttachPartitions):
        result = []
        for child, parent in action.pairs:
            (child_node, child_index), (parent_node, parent_index) = (
                index_of[child],
                index_of[parent],
            )
            result.append(
                sql.attach_partition(
                    parent_node.schema, parent_index.name, child_node.schema, child_index.name
                )
            )
        return result
    if isinstance(action, actions.BuildPartition):
        node = by_oid[action.table]
        name = partitions.index_name(dataclasses.replace(spec, name=action.index), tree, node)
        return [sql.create_index(spec, table=table(node), name=name)]
    if isinstance(action, actions.DropPartitionLeftover):
        return [sql.drop_index(by_oid[action.table].schema, action.index)]
    return []


def swap_body(spec: specs.IndexSpec, state: catalog.IndexState) -> list[str]:
    """The statements inside the swap transaction (the executor runs exactly these)."""
    renames = partitions.swap_renames(spec, state.partitions) if state.partitions else []
    return sql.swap_statements(spec, state, renames)
