"""Indexes on partitioned tables, which CREATE INDEX CONCURRENTLY cannot build directly. Pure.

The recipe, each step decided afresh from the catalog (PARTITIONS in catalog.py), so a crash at
any point continues where the catalog says it is:
1. CreateParents     `CREATE INDEX IF NOT EXISTS ... ON ONLY` the table and every partitioned
                     sub-table (instant; the index stays INVALID until every partition has one);
2. AttachPartitions  `ALTER INDEX parent ATTACH PARTITION child` for every child index that is
                     valid: a leaf's own build, or a matching valid index it already had;
                     sub-tables' indexes once they turned valid (bottom up);
3. BuildPartition    `CREATE INDEX CONCURRENTLY` on one leaf under names.partition(...), biggest
                     leaf first, with the retry rules of a normal build counted per partition;
   DropPartitionLeftover  a leaf's INVALID index of ours that nobody builds.
PostgreSQL marks the top index valid when the last partition is attached.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Final

from dbindex_operator.core import actions, catalog, catalog_rows, definitions, names
from dbindex_operator.core import spec as specs

# $1: partitioned table oids. Every table of each partition tree (the table itself first), its
# indexes (with their signature while valid and not behind an ACCESS EXCLUSIVE lock), what they
# are attached to, the partition key, and a CREATE INDEX running on it.
PARTITIONS: Final = f"""
    WITH exclusive AS MATERIALIZED (
        SELECT DISTINCT l.relation FROM pg_locks l
        WHERE l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock'
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
    )
    SELECT w.root, p.relid::oid AS relid, p.parentrelid::oid AS parentrelid, p.isleaf, p.level,
           n.nspname AS schema_name, c.relname, c.relpages,
           (SELECT json_agg(json_build_object(
                'oid', x.indexrelid, 'name', i.relname, 'valid', x.indisvalid,
                'parent', (SELECT h.inhparent FROM pg_inherits h WHERE h.inhrelid = x.indexrelid),
                'signature', CASE WHEN x.indisvalid
                                   AND NOT EXISTS (SELECT 1 FROM exclusive e
                                                   WHERE e.relation IN (c.oid, x.indexrelid))
                                  THEN {catalog.SIGNATURE} END) ORDER BY i.relname)
            FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
            WHERE x.indrelid = p.relid::oid) AS indexes,
           (SELECT json_agg(a.attname ORDER BY k.ord)
            FROM pg_partitioned_table pt
            CROSS JOIN LATERAL unnest(pt.partattrs::int2[]) WITH ORDINALITY AS k(attnum, ord)
            LEFT JOIN pg_attribute a ON a.attrelid = pt.partrelid AND a.attnum = k.attnum
            WHERE pt.partrelid = p.relid::oid) AS partition_key,
           (SELECT json_build_object(
                'pid', g.pid, 'phase', g.phase, 'index_relid', g.index_relid,
                'blocks_total', g.blocks_total, 'blocks_done', g.blocks_done,
                'tuples_total', g.tuples_total, 'tuples_done', g.tuples_done,
                'lockers_total', g.lockers_total, 'lockers_done', g.lockers_done,
                'current_locker_pid', g.current_locker_pid,
                'blocking_pids', pg_blocking_pids(g.pid))
            FROM pg_stat_progress_create_index g
            WHERE g.relid = p.relid::oid
              AND g.datid = (SELECT oid FROM pg_database WHERE datname = current_database())
            ORDER BY g.pid LIMIT 1) AS builder
    FROM unnest($1::oid[]) AS w(root)
    CROSS JOIN LATERAL pg_partition_tree(w.root) AS p
    JOIN pg_class c ON c.oid = p.relid::oid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    ORDER BY w.root, p.level, c.relname
"""


@dataclasses.dataclass(frozen=True)
class PartIndex:
    """One index on one table of the partition tree."""

    oid: int
    name: str
    valid: bool
    parent: int | None  # the partitioned index it is attached to (pg_inherits)
    signature: Mapping[str, Any] | None = None


@dataclasses.dataclass(frozen=True)
class Node:
    """One table of the partition tree (the partitioned table itself first)."""

    oid: int
    parent: int | None
    leaf: bool
    schema: str
    name: str
    pages: int = 0
    indexes: tuple[PartIndex, ...] = ()
    builder: catalog.Progress | None = None  # a CREATE INDEX running on this table
    key: tuple[str | None, ...] = ()  # partition key columns (None: an expression)


@dataclasses.dataclass(frozen=True)
class Retry:
    """Our own attempts at one leaf (per partition, like a normal build's)."""

    failed: actions.Fail | None = None
    retry_in: float = 0.0


def index_name(spec: specs.IndexSpec, tree: Sequence[Node], node: Node) -> str:
    """The declared name on the partitioned table, a derived one on every partition."""
    return spec.name if node.oid == tree[0].oid else names.partition(spec.name, node.name)


def own_index(spec: specs.IndexSpec, tree: Sequence[Node], node: Node) -> PartIndex | None:
    """spec's index on `node`: on the partitioned table the one of the declared name; below it
    the one attached to the parent table's (whatever its name: after a replacement's swap the
    children keep the names they were built under), else the one of our derived name."""
    if node.parent is not None:
        parent = next((n for n in tree if n.oid == node.parent), None)
        parent_index = None if parent is None else own_index(spec, tree, parent)
        if parent_index is not None:
            attached = next((i for i in node.indexes if i.parent == parent_index.oid), None)
            if attached is not None:
                return attached
    wanted = index_name(spec, tree, node)
    return next((i for i in node.indexes if i.name == wanted), None)


def unique_problem(spec: specs.IndexSpec, tree: Sequence[Node]) -> str | None:
    """A unique index on a partitioned table must contain every partition key column, at every
    level (PostgreSQL enforces uniqueness per partition only)."""
    if not spec.unique:
        return None
    columns = {key.column for key in spec.keys if key.column is not None}
    for node in tree:
        if node.leaf:
            continue
        missing = [c for c in node.key if c is None or c not in columns]
        if missing:
            shown = ", ".join(c or "(an expression)" for c in missing)
            return (
                f"a unique index on the partitioned table {node.schema}.{node.name} must include "
                f"its partition key column(s) {shown} as plain key columns"
            )
    return None


def decide(
    spec: specs.IndexSpec,
    tree: Sequence[Node],
    desired: Mapping[str, Any] | None,
    retries: Mapping[int, Retry],
) -> actions.Action:
    """The next step for spec's index on the partitioned table tree[0]."""
    problem = unique_problem(spec, tree)
    if problem is not None:
        return actions.Fail("InvalidSpec", problem)
    by_oid = {node.oid: node for node in tree}
    missing = tuple(n.oid for n in tree if not n.leaf and own_index(spec, tree, n) is None)
    if missing:
        return actions.CreateParents(missing, spec.name)
    attach: list[tuple[int, int]] = []  # (child index oid, parent index oid)
    builds: list[Node] = []
    for node in tree[1:]:
        parent_index = own_index(spec, tree, by_oid[node.parent or 0])
        assert parent_index is not None
        step = _node_step(spec, tree, node, parent_index, desired, retries.get(node.oid))
        if isinstance(step, PartIndex):
            attach.append((step.oid, parent_index.oid))
        elif isinstance(step, actions.Fail):
            return step
        elif step == "build":
            builds.append(node)
    if attach:
        return actions.AttachPartitions(tuple(attach))
    for node in sorted(builds, key=lambda n: n.pages, reverse=True):
        mine = own_index(spec, tree, node)
        if node.builder is not None:
            continue  # one build per table: it waits for the table's current build
        if mine is not None:  # INVALID, or built for an earlier definition
            return actions.DropPartitionLeftover(node.oid, mine.name)
        return actions.BuildPartition(node.oid, spec.name)
    root = own_index(spec, tree, tree[0])
    if root is not None and root.valid:
        return actions.Ready(adopted=False)
    waiting = [r for oid, r in retries.items() if oid in by_oid and r.retry_in > 0]
    if waiting:
        soonest = min(r.retry_in for r in waiting)
        return actions.Wait("Retrying", "BackingOff", f"next partition attempt in {soonest:.0f}s")
    return actions.Wait("Building", "PartitionsBuilding", "partitions are being built")


def _node_step(
    spec: specs.IndexSpec,
    tree: Sequence[Node],
    node: Node,
    parent_index: PartIndex,
    desired: Mapping[str, Any] | None,
    retry: Retry | None,
) -> PartIndex | actions.Fail | str | None:
    """What one table below the top needs: None (done or busy), an index to attach, "build"
    (a leaf whose own index must be built or its leftover dropped), or a Fail."""
    attached = [i for i in node.indexes if i.parent == parent_index.oid]
    if attached:
        if attached[0].valid or not node.leaf:
            return None  # a sub-table's index turns valid when its own partitions are done
        return actions.Fail(
            "PartitionLeftover",
            f"the INVALID index {node.schema}.{attached[0].name} is attached to the partitioned "
            "index; PostgreSQL cannot drop it alone: drop the partitioned index and let the "
            "operator build it again",
        )
    mine = own_index(spec, tree, node)
    if not node.leaf:
        return mine if mine is not None and mine.valid else None
    if mine is not None and node.builder is not None and node.builder.index_relid == mine.oid:
        return None  # being built right now
    stale = (
        mine is not None
        and desired is not None
        and mine.signature is not None
        and bool(definitions.differences(desired, mine.signature))
    )
    if mine is not None and mine.valid and not stale:
        return mine
    if stale:
        return "build"  # dropped first (DropPartitionLeftover), then built again
    if mine is None and desired is not None:
        for index in node.indexes:
            matches = index.signature is not None and not definitions.differences(
                desired, index.signature
            )
            if index.valid and index.parent is None and matches:
                return index  # an equivalent index the partition already had
    if retry is not None and retry.failed is not None:
        return retry.failed
    if retry is not None and retry.retry_in > 0:
        return None
    return "build"


def counts(spec: specs.IndexSpec, tree: Sequence[Node]) -> tuple[int, int, int, int]:
    """(leaves done, leaves, pages done, pages): a leaf is done once a valid index is attached."""
    by_oid = {node.oid: node for node in tree}
    done = total = pages_done = pages = 0
    for node in tree[1:]:
        if not node.leaf:
            continue
        total += 1
        pages += node.pages
        parent_index = own_index(spec, tree, by_oid[node.parent or 0])
        if parent_index is not None and any(
            i.parent == parent_index.oid and i.valid for i in node.indexes
        ):
            done += 1
            pages_done += node.pages
    return done, total, pages_done, pages


def nodes_from_rows(rows: Sequence[Mapping[str, Any]]) -> tuple[Node, ...]:
    """PARTITIONS rows of one partitioned table -> its tree, the table itself first."""
    result = []
    for row in rows:
        indexes = tuple(
            PartIndex(
                oid=int(i["oid"]),
                name=i["name"],
                valid=bool(i["valid"]),
                parent=None if i.get("parent") is None else int(i["parent"]),
                signature=i.get("signature"),
            )
            for i in catalog_rows.json_value(row["indexes"]) or ()
        )
        builder = catalog_rows.json_value(row["builder"])
        result.append(
            Node(
                oid=int(row["relid"]),
                parent=None if row["parentrelid"] is None else int(row["parentrelid"]),
                leaf=bool(row["isleaf"]),
                schema=row["schema_name"],
                name=row["relname"],
                pages=max(int(row["relpages"] or 0), 0),
                indexes=indexes,
                builder=None if builder is None else catalog.Progress.from_row(builder),
                key=tuple(catalog_rows.json_value(row["partition_key"]) or ()),
            )
        )
    return tuple(result)


def swap_renames(spec: specs.IndexSpec, tree: Sequence[Node]) -> list[tuple[str, str, str]]:
    """The partition indexes' renames that go with a swap: the old tree's derived names move to
    the retired name's, then the new tree's to the declared name's, so the next replacement
    finds its derived names free. (schema, from, to), old tree first."""
    old_root, new_root = spec.name, names.replacement(spec.name)
    new_spec = dataclasses.replace(spec, name=new_root)
    result = []
    for owner, source, target in (
        (spec, old_root, names.retired(old_root)),
        (new_spec, new_root, old_root),
    ):
        for node in tree[1:]:
            index = own_index(owner, tree, node)
            if index is not None and index.name == names.partition(source, node.name):
                result.append((node.schema, index.name, names.partition(target, node.name)))
    return result
