"""The order builds start in, and which overlapping builds run without parallel workers
(max_parallel_maintenance_workers 0).

Only one CREATE INDEX CONCURRENTLY runs per table, so a database's builds form one chain per
table, and with N build slots the batch takes at least the longest chain. When that chain is
at least as long as everything else shared among the other N-1 slots, it IS the batch's wall
time: the builds beside it have slack, and the parallel sort workers they would start (one per
build with the default 64 MB of maintenance_work_mem) only take CPU from the chain. Measured on
2 cores with the runbook's twelve indexes (segment_efforts 5M rows twice, beside 3M/1M-row
tables; docs/benchmarks.md, p1): the chain's builds ran 14 % faster, and the batch with them,
when the builds beside it ran serially. When no chain dominates, every build keeps the
server's setting: serial builds there would lengthen the critical path.

The weight of a chain is its table's pages times its builds (build_order below uses the
same), counting the builds already running. A build whose spec sets `parallelWorkers` keeps
it: the user's word wins over this estimate.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TypeVar

from dbindex_operator.core import catalog
from dbindex_operator.core import spec as specs

T = TypeVar("T")


def chain_weights(builds: Iterable[tuple[int | None, int]]) -> dict[int, int]:
    """(table oid, table pages) per build, pending or running -> pages x builds per table."""
    weights: dict[int, int] = {}
    for oid, pages in builds:
        if oid is not None:
            weights[oid] = weights.get(oid, 0) + max(pages, 0)
    return weights


def serial_tables(weights: Mapping[int, int], slots: int) -> frozenset[int]:
    """Tables whose new builds should run without parallel workers: every table but the
    heaviest, when the heaviest chain is at least the rest's share of the other slots. Empty
    with one slot, one table, or no dominating chain."""
    if slots < 2 or len(weights) < 2:
        return frozenset()
    heaviest = max(weights, key=lambda oid: (weights[oid], oid))
    rest = sum(weights.values()) - weights[heaviest]
    if weights[heaviest] * (slots - 1) < rest or weights[heaviest] == 0:
        return frozenset()
    return frozenset(oid for oid in weights if oid != heaviest)


def chains(
    queued: Sequence[catalog.IndexState],
    states: Sequence[catalog.IndexState],
    running: Sequence[tuple[int | None, int]],
) -> list[tuple[int | None, int]]:
    """(table oid, pages) of every build of a database's chains: those queued now (`queued`,
    taken from `states`), those running, and the missing indexes waiting behind a running build
    on their table (the plan makes those wait rather than queue them)."""
    busy = {oid for oid, _ in running}
    picked = {id(state) for state in queued}
    behind = [
        (s.table_oid, s.table_pages)
        for s in states
        if id(s) not in picked and not s.index_exists and s.table_oid in busy
    ]
    return [(s.table_oid, s.table_pages) for s in queued] + behind + list(running)


def serial(spec: specs.IndexSpec) -> specs.IndexSpec:
    """`spec` built without parallel workers, unless its `parallelWorkers` says otherwise."""
    if spec.build.parallel_workers is not None:
        return spec
    return dataclasses.replace(spec, build=dataclasses.replace(spec.build, parallel_workers=0))


def build_order(items: list[T], state_of: Callable[[T], catalog.IndexState]) -> list[T]:
    """Longest work first: the table with the most pending work (its pages times the builds
    waiting for it, since one table builds one index at a time), biggest table to break ties.
    Starting the longest chain first finishes the batch soonest."""
    pending: dict[int | None, int] = {}
    for item in items:
        oid = state_of(item).table_oid
        pending[oid] = pending.get(oid, 0) + 1

    def weight(item: T) -> tuple[int, int]:
        state = state_of(item)
        return state.table_pages * pending[state.table_oid], state.table_pages

    return sorted(items, key=weight, reverse=True)
