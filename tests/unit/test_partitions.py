"""core/partitions.py: each step of an index on a partitioned table, decided from the tree."""

from __future__ import annotations

from typing import Any

import pytest

from dbindex_operator.core import actions, catalog, names, partitions, plan
from tests.unit.builders import index_spec

SPEC = index_spec("events-k", table="events", columns=[{"column": "k"}])
WANT = {
    "method": "btree",
    "unique": False,
    "nullsNotDistinct": False,
    "keys": [["k", None, None, False, False]],
    "include": [],
    "predicate": None,
    "reloptions": [],
    "tablespace": None,
}
ROOT, SUB, LEAF1, LEAF2, LEAF3 = 10, 20, 11, 21, 22
P = names.partition


def _i(oid: int, name: str, valid: bool = True, parent: int | None = None, sig: Any = None) -> Any:
    return partitions.PartIndex(oid=oid, name=name, valid=valid, parent=parent, signature=sig)


def tree(
    root: tuple[Any, ...] = (),
    sub: tuple[Any, ...] = (),
    leaf1: tuple[Any, ...] = (),
    leaf2: tuple[Any, ...] = (),
    leaf3: tuple[Any, ...] = (),
    builder: dict[int, catalog.Progress] | None = None,
    key: tuple[str | None, ...] = ("id",),
) -> tuple[partitions.Node, ...]:
    """events (range: id) -> events_1 (leaf, 50 pages), events_2 (list: region) -> events_2a
    (leaf, 30 pages), events_2b (leaf, 100 pages)."""
    b = builder or {}
    return (
        partitions.Node(ROOT, None, False, "public", "events", 0, root, key=key),
        partitions.Node(LEAF1, ROOT, True, "public", "events_1", 50, leaf1, b.get(LEAF1)),
        partitions.Node(SUB, ROOT, False, "public", "events_2", 0, sub, key=("region",)),
        partitions.Node(LEAF2, SUB, True, "public", "events_2a", 30, leaf2, b.get(LEAF2)),
        partitions.Node(LEAF3, SUB, True, "public", "events_2b", 100, leaf3, b.get(LEAF3)),
    )


TOP = _i(100, "events_k", valid=False)
SUBIDX = _i(200, P("events_k", "events_2"), valid=False)
PARENTS = {"root": (TOP,), "sub": (SUBIDX,)}


@pytest.mark.parametrize(
    ("nodes", "retries", "expected"),
    [
        pytest.param(
            tree(), {}, actions.CreateParents((ROOT, SUB), "events_k"), id="parents-first"
        ),
        pytest.param(
            tree(root=(TOP,)), {}, actions.CreateParents((SUB,), "events_k"), id="missing-sub"
        ),
        pytest.param(
            tree(**PARENTS), {}, actions.BuildPartition(LEAF3, "events_k"), id="biggest-leaf-first"
        ),
        pytest.param(
            tree(**PARENTS, leaf3=(_i(300, P("events_k", "events_2b")),)),
            {},
            actions.AttachPartitions(((300, 200),)),
            id="attach-to-its-own-parent",
        ),
        pytest.param(
            tree(**PARENTS, leaf3=(_i(300, P("events_k", "events_2b"), valid=False),)),
            {},
            actions.DropPartitionLeftover(LEAF3, P("events_k", "events_2b")),
            id="leftover-dropped",
        ),
        pytest.param(
            tree(**PARENTS, leaf1=(_i(110, "events_1_mine", sig=WANT),)),
            {},
            actions.AttachPartitions(((110, 100),)),
            id="existing-matching-index-attached",
        ),
        pytest.param(
            tree(**PARENTS, leaf1=(_i(110, "events_1_other", sig={**WANT, "unique": True}),)),
            {},
            actions.BuildPartition(LEAF3, "events_k"),
            id="different-index-not-attached",
        ),
        pytest.param(
            tree(
                **PARENTS,
                leaf3=(_i(300, P("events_k", "events_2b"), valid=False),),
                builder={LEAF3: catalog.Progress(pid=5, index_relid=300)},
            ),
            {},
            actions.BuildPartition(LEAF1, "events_k"),
            id="a-building-leaf-is-left-alone",
        ),
        pytest.param(
            tree(**PARENTS),
            {LEAF3: partitions.Retry(retry_in=30)},
            actions.BuildPartition(LEAF1, "events_k"),
            id="backing-off-leaf-waits-others-go",
        ),
        pytest.param(
            tree(**PARENTS),
            {LEAF3: partitions.Retry(failed=actions.Fail("BuildFailed", "dup"))},
            actions.Fail("BuildFailed", "dup"),
            id="permanent-failure",
        ),
        pytest.param(
            tree(
                root=(TOP,),
                sub=(_i(200, P("events_k", "events_2"), valid=True),),
                leaf1=(_i(110, "x", parent=100),),
                leaf2=(_i(210, "y", parent=200),),
                leaf3=(_i(220, "z", parent=200),),
            ),
            {},
            actions.AttachPartitions(((200, 100),)),
            id="sub-parent-attached-once-valid",
        ),
        pytest.param(
            tree(
                root=(_i(100, "events_k", valid=True),),
                sub=(_i(200, P("events_k", "events_2"), parent=100),),
                leaf1=(_i(110, "x", parent=100),),
                leaf2=(_i(210, "y", parent=200),),
                leaf3=(_i(220, "z", parent=200),),
            ),
            {},
            actions.Ready(adopted=False),
            id="all-attached-ready",
        ),
    ],
)
def test_decide(
    nodes: tuple[partitions.Node, ...],
    retries: dict[int, partitions.Retry],
    expected: actions.Action,
) -> None:
    assert partitions.decide(SPEC, nodes, WANT, retries) == expected


def test_an_invalid_attached_leaf_index_is_reported() -> None:
    nodes = tree(**PARENTS, leaf1=(_i(110, "bad", valid=False, parent=100),))
    action = partitions.decide(SPEC, nodes, WANT, {})
    assert isinstance(action, actions.Fail) and action.reason == "PartitionLeftover"


@pytest.mark.parametrize(
    ("columns", "key", "problem"),
    [
        pytest.param(["k"], ("id",), "id, region", id="missing-both"),
        pytest.param(["k", "id"], ("id",), "region", id="missing-sub-level"),
        pytest.param(["k", "id", "region"], ("id",), None, id="all-levels"),
        pytest.param(["k", "id", "region"], (None,), "(an expression)", id="expression-key"),
    ],
)
def test_unique_needs_every_partition_key(
    columns: list[str], key: tuple[str | None, ...], problem: str | None
) -> None:
    spec = index_spec(
        "events-k", table="events", unique=True, columns=[{"column": c} for c in columns]
    )
    found = partitions.unique_problem(spec, tree(key=key))
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem.split(",")[0] in found


def test_statements_of_each_step() -> None:
    nodes = tree(**PARENTS, leaf1=(_i(110, P("events_k", "events_1")),))
    state = catalog.IndexState(table_oid=ROOT, table_kind="p", partitions=nodes)
    sub_index, leaf_index = P("events_k", "events_2"), P("events_k", "events_1")
    assert plan.statements(SPEC, state, actions.CreateParents((ROOT, SUB), "events_k")) == [
        "CREATE INDEX IF NOT EXISTS events_k ON ONLY public.events USING btree (k)",
        f"CREATE INDEX IF NOT EXISTS {sub_index} ON ONLY public.events_2 USING btree (k)",
    ]
    assert plan.statements(SPEC, state, actions.AttachPartitions(((110, 100),))) == [
        f"ALTER INDEX public.events_k ATTACH PARTITION public.{leaf_index}"
    ]
    assert plan.statements(SPEC, state, actions.BuildPartition(LEAF1, "events_k")) == [
        f"CREATE INDEX CONCURRENTLY {leaf_index} ON public.events_1 USING btree (k)"
    ]
    assert plan.statements(SPEC, state, actions.DropPartitionLeftover(LEAF1, leaf_index)) == [
        f"DROP INDEX CONCURRENTLY IF EXISTS public.{leaf_index}"
    ]


def test_counts_weigh_by_size() -> None:
    nodes = tree(
        root=(TOP,), sub=(SUBIDX,), leaf3=(_i(220, "z", parent=200),), leaf1=(_i(110, "x"),)
    )
    assert partitions.counts(SPEC, nodes) == (1, 3, 100, 180)


@pytest.mark.parametrize(
    ("spec", "valid", "expected"),
    [
        pytest.param(
            index_spec("events-k", table="events", deletionPolicy="Delete"),
            True,
            plan.DropIndex(only_invalid=False, concurrently=False),
            id="delete",
        ),
        pytest.param(
            SPEC,
            False,
            plan.DropIndex(only_invalid=True, concurrently=False),
            id="retain-drops-a-partial-build",
        ),
    ],
)
def test_deletion_of_a_partitioned_index(spec: Any, valid: bool, expected: Any) -> None:
    state = catalog.IndexState(
        table_oid=ROOT,
        table_kind="p",
        relation_oid=100,
        relation_kind="I",
        on_table=True,
        valid=valid,
        partitions=tree(root=(_i(100, "events_k", valid=valid),)),
    )
    assert plan.decide_deletion(spec, state, working=False) == expected


def test_deletion_drops_our_unattached_partition_indexes_first() -> None:
    mine = P("events_k", "events_1")
    state = catalog.IndexState(
        table_oid=ROOT,
        table_kind="p",
        relation_oid=100,
        relation_kind="I",
        on_table=True,
        partitions=tree(root=(TOP,), leaf1=(_i(110, mine),)),
    )
    assert plan.decide_deletion(SPEC, state, working=False) == plan.DropIndex(
        only_invalid=False, name=mine, schema="public"
    )


NEW = names.replacement("events_k")
OTHER = {**WANT, "keys": [["k", None, None, True, True]]}


def _pstate(nodes: tuple[partitions.Node, ...], **fields: Any) -> catalog.IndexState:
    base: dict[str, Any] = {
        "table_oid": ROOT,
        "table_kind": "p",
        "relation_oid": 100,
        "relation_kind": "I",
        "on_table": True,
        "valid": True,
        "signature": OTHER,
        "partitions": nodes,
    }
    return catalog.IndexState(**{**base, **fields})


DONE = tree(
    root=(_i(100, "events_k"),),
    sub=(_i(200, P("events_k", "events_2"), parent=100),),
    leaf1=(_i(110, "x", parent=100),),
    leaf2=(_i(210, "y", parent=200),),
    leaf3=(_i(220, "z", parent=200),),
)


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        pytest.param(
            _pstate(DONE), actions.CreateParents((ROOT, SUB), NEW), id="replacement-tree-starts"
        ),
        pytest.param(
            _pstate(DONE, replacement_oid=900, replacement_valid=True, replacement_signature=WANT),
            actions.Swap(),
            id="replacement-complete-swapped",
        ),
        pytest.param(_pstate(DONE, retired_oid=901), actions.DropRetired(), id="retired-dropped"),
        pytest.param(
            _pstate(DONE, signature=WANT, replacement_oid=900),
            actions.DropReplacement(),
            id="stale-replacement-dropped",
        ),
        pytest.param(_pstate(DONE, signature=WANT), actions.Ready(adopted=False), id="ready"),
    ],
)
def test_replacing_a_partitioned_index(state: catalog.IndexState, expected: Any) -> None:
    assert plan.decide(SPEC, state, WANT, plan.History(managed=True)) == expected


def test_a_leaf_index_of_an_earlier_definition_is_dropped_not_attached() -> None:
    stale = _i(300, P("events_k", "events_2b"), sig=OTHER)
    nodes = tree(**PARENTS, leaf3=(stale,))
    assert partitions.decide(SPEC, nodes, WANT, {}) == actions.DropPartitionLeftover(
        LEAF3, stale.name
    )


def test_swap_of_a_partitioned_index_drops_without_concurrently() -> None:
    state = _pstate(DONE, clustered=True, stat_targets=((1, 100),))
    assert plan.statements(SPEC, state, actions.Swap()) == [
        "BEGIN",
        f"ALTER INDEX public.events_k RENAME TO {names.retired('events_k')}",
        f"ALTER INDEX public.{NEW} RENAME TO events_k",
        # The old tree's derived sub-table index steps aside (x, y, z keep their own names).
        f"ALTER INDEX public.{P('events_k', 'events_2')} "
        f"RENAME TO {P(names.retired('events_k'), 'events_2')}",
        "COMMIT",
        f"DROP INDEX IF EXISTS public.{names.retired('events_k')}",
    ]


def test_swap_renames_move_both_trees_names() -> None:
    new_sub = _i(400, P(NEW, "events_2"), parent=900)
    nodes = tree(
        root=(_i(100, "events_k"), _i(900, NEW)),
        sub=(_i(200, P("events_k", "events_2"), parent=100), new_sub),
        leaf1=(
            _i(110, P("events_k", "events_1"), parent=100),
            _i(410, P(NEW, "events_1"), parent=900),
        ),
    )
    old = names.retired("events_k")
    assert partitions.swap_renames(SPEC, nodes) == [
        ("public", P("events_k", "events_1"), P(old, "events_1")),
        ("public", P("events_k", "events_2"), P(old, "events_2")),
        ("public", P(NEW, "events_1"), P("events_k", "events_1")),
        ("public", P(NEW, "events_2"), P("events_k", "events_2")),
    ]
