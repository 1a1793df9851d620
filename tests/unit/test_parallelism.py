"""core/parallelism.py: which overlapping builds run without parallel workers."""

from __future__ import annotations

import pytest

from dbindex_operator.core import catalog, parallelism
from dbindex_operator.core import spec as specs

# The runbook's tables at p1's sizes (pg_class.relpages): segment_efforts 5M rows has two
# builds, notifications 3M two, activities 1M two, the five small tables one each.
EFFORTS, NOTIFICATIONS, ACTIVITIES = 1, 2, 3
RUNBOOK = [
    (EFFORTS, 56_819),
    (EFFORTS, 56_819),
    (NOTIFICATIONS, 30_391),
    (NOTIFICATIONS, 30_391),
    (ACTIVITIES, 15_248),
    (ACTIVITIES, 15_248),
    (4, 3_185),
    (5, 2_563),
    (6, 1_593),
    (6, 1_593),
    (7, 637),
    (8, 286),
]


def test_chain_weights_sum_pages_per_table() -> None:
    assert parallelism.chain_weights([(1, 10), (2, 5), (1, 10), (None, 99), (3, -1)]) == {
        1: 20,
        2: 5,
        3: 0,
    }


@pytest.mark.parametrize(
    ("builds", "slots", "serial"),
    [
        pytest.param(
            RUNBOOK,
            2,
            {NOTIFICATIONS, ACTIVITIES, 4, 5, 6, 7, 8},
            id="runbook: segment_efforts' chain is the wall, the rest runs serially beside it",
        ),
        pytest.param(
            RUNBOOK[1:],
            2,
            set(),
            id="one efforts build left among the rest: no chain dominates, all keep workers",
        ),
        pytest.param(
            [(1, 10), (2, 9), (3, 9)], 2, set(), id="the rest outweighs the longest chain"
        ),
        pytest.param([(1, 10), (2, 9), (3, 9)], 3, {2, 3}, id="three slots: 10 >= 18 / 2"),
        pytest.param([(1, 10), (2, 10)], 2, {1}, id="a tie: the higher oid keeps its workers"),
        pytest.param(RUNBOOK, 1, set(), id="one slot: builds never overlap"),
        pytest.param([(1, 10), (1, 10)], 2, set(), id="one table: never two builds at once"),
        pytest.param([(1, 0), (2, 0)], 2, set(), id="empty tables: nothing to decide"),
    ],
)
def test_serial_tables(builds: list[tuple[int, int]], slots: int, serial: set[int]) -> None:
    weights = parallelism.chain_weights(builds)
    assert parallelism.serial_tables(weights, slots) == serial


def _spec(build: dict[str, object]) -> specs.IndexSpec:
    return specs.parse(
        {
            "connection": {"secretRef": {"name": "db"}},
            "table": "t",
            "name": "t_a",
            "columns": [{"column": "a"}],
            "build": build,
        },
        object_name="t-a",
    )


def test_serial_spec_turns_workers_off_unless_the_user_chose() -> None:
    assert parallelism.serial(_spec({})).build.parallel_workers == 0
    chosen = _spec({"parallelWorkers": 2})
    assert parallelism.serial(chosen) is chosen
    assert parallelism.serial(_spec({"maintenanceWorkMem": "1GB"})).build.maintenance_work_mem == (
        "1GB"
    )


def test_chains_count_queued_running_and_waiting_behind_a_running_build() -> None:
    def state(oid: int, pages: int, exists: bool = False) -> catalog.IndexState:
        return catalog.IndexState(
            table_oid=oid, table_pages=pages, relation_oid=1 if exists else None
        )

    queued = state(10, 100)
    behind = state(20, 500)  # missing, its table busy: it waits, yet belongs to that chain
    ready = state(20, 500, exists=True)  # no build: not counted
    idle_table = state(30, 50)  # missing on a table nothing builds on, not queued: not counted
    found = parallelism.chains([queued], [queued, behind, ready, idle_table], [(20, 500)])
    assert found == [(10, 100), (20, 500), (20, 500)]
    assert parallelism.serial_tables(parallelism.chain_weights(found), 2) == {10}
