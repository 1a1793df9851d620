"""plan.decide: one row per branch of the decision; parallelism.build_order."""

from __future__ import annotations

from typing import Any

import pytest

from dbindex_operator.core import catalog, parallelism, plan, policy
from tests.unit.builders import SIGNATURE, index_spec

SPEC = index_spec("orders-by-customer")
INDEX_OID = 900
OTHER_OID = 901

OWN_BUILD = catalog.Progress(pid=11, phase="building index: scanning table", index_relid=INDEX_OID)
OTHER_BUILD = catalog.Progress(
    pid=22, phase="building index: scanning table", index_relid=OTHER_OID
)
FOREIGN_FAILURE = plan.Fail("BuildFailed", "duplicate key value")
BUSY = plan.Wait(
    "Pending",
    "TableBusy",
    "backend 22 is building another index on public.orders; "
    "only one build per table runs at a time",
)


def _state(**fields: Any) -> catalog.IndexState:
    base: dict[str, Any] = {"table_oid": 500, "table_kind": "r", "table_pages": 10}
    base.update(fields)
    return catalog.IndexState(**base)


def _index(**fields: Any) -> catalog.IndexState:
    """A state where an index of the spec's name exists on the table."""
    base: dict[str, Any] = {
        "relation_oid": INDEX_OID,
        "relation_kind": "i",
        "on_table": True,
        "valid": True,
        "signature": SIGNATURE,
    }
    base.update(fields)
    return _state(**base)


@pytest.mark.parametrize(
    ("state", "desired", "history", "expected"),
    [
        pytest.param(
            catalog.IndexState(),
            None,
            plan.History(),
            plan.Wait("Waiting", "TableNotFound", "table public.orders does not exist (yet)"),
            id="table-missing",
        ),
        pytest.param(
            catalog.IndexState(),
            SIGNATURE,
            plan.History(failed=FOREIGN_FAILURE, retry_in=30),
            plan.Wait("Waiting", "TableNotFound", "table public.orders does not exist (yet)"),
            id="table-missing-wins-over-history",
        ),
        pytest.param(
            _state(table_kind="p"),
            None,
            plan.History(),
            plan.Wait("Pending", "ReadingPartitions", "reading the partitions of public.orders"),
            id="partitioned-tree-not-read-yet",
        ),
        pytest.param(
            _index(relation_kind="r", on_table=False, signature=None),
            None,
            plan.History(),
            plan.Fail(
                "NameConflict",
                "public.orders_by_customer exists and is not an index on public.orders",
            ),
            id="name-clash-not-an-index",
        ),
        pytest.param(
            _index(on_table=False),
            SIGNATURE,
            plan.History(),
            plan.Fail(
                "NameConflict",
                "public.orders_by_customer exists and is not an index on public.orders",
            ),
            id="index-on-another-table",
        ),
        pytest.param(_index(), None, plan.History(), plan.Probe(), id="valid-no-desired-probe"),
        pytest.param(
            _index(),
            SIGNATURE,
            plan.History(),
            plan.Ready(adopted=True),
            id="valid-equal-adopted",
        ),
        pytest.param(
            _index(),
            SIGNATURE,
            plan.History(built_here=True),
            plan.Ready(adopted=False),
            id="valid-equal-built-here",
        ),
        pytest.param(
            _index(),
            SIGNATURE,
            plan.History(failed=FOREIGN_FAILURE),
            plan.Ready(adopted=True),
            id="valid-equal-ignores-old-failure",
        ),
        pytest.param(
            _index(signature={**SIGNATURE, "unique": True}),
            SIGNATURE,
            plan.History(),
            plan.Fail(
                "DefinitionMismatch",
                "a valid index of this name exists with another definition "
                "(unique: want False, have True); it is left alone "
                "(adoptPolicy Refuse; adoptPolicy: Replace replaces it)",
            ),
            id="valid-different-definition",
        ),
        pytest.param(
            _index(signature=None),
            SIGNATURE,
            plan.History(),
            plan.Fail(
                "DefinitionMismatch",
                "a valid index of this name exists with another definition ("
                "include: want [], have None; keys: want [['customer_id', None, None, False, "
                "False]], have None; method: want 'btree', have None; nullsNotDistinct: want "
                "False, have None; reloptions: want [], have None; unique: want False, "
                "have None); it is left alone "
                "(adoptPolicy Refuse; adoptPolicy: Replace replaces it)",
            ),
            id="valid-without-signature",
        ),
        pytest.param(
            _index(valid=False, builder=OWN_BUILD),
            None,
            plan.History(),
            plan.WatchForeignBuild(OWN_BUILD),
            id="invalid-being-built-by-someone",
        ),
        pytest.param(
            _index(valid=False, builder=OTHER_BUILD),
            None,
            plan.History(),
            BUSY,
            id="invalid-other-builder-on-table",
        ),
        pytest.param(
            _index(valid=False),
            SIGNATURE,
            plan.History(),
            plan.DropLeftover(),
            id="invalid-dead-leftover",
        ),
        pytest.param(
            _index(valid=False),
            None,
            plan.History(failed=FOREIGN_FAILURE, retry_in=30),
            plan.DropLeftover(),
            id="invalid-dead-leftover-despite-history",
        ),
        pytest.param(
            _state(),
            None,
            plan.History(failed=FOREIGN_FAILURE, retry_in=30),
            FOREIGN_FAILURE,
            id="absent-failed",
        ),
        pytest.param(
            _state(builder=OTHER_BUILD),
            None,
            plan.History(),
            BUSY,
            id="absent-builder-on-table",
        ),
        pytest.param(
            _state(builder=OTHER_BUILD),
            None,
            plan.History(retry_in=30),
            BUSY,
            id="absent-builder-wins-over-backoff",
        ),
        pytest.param(
            _state(),
            None,
            plan.History(retry_in=29.6, last_error="[55P03] lock timeout"),
            plan.Wait("Retrying", "BackingOff", "next attempt in 30s after: [55P03] lock timeout"),
            id="absent-backing-off",
        ),
        pytest.param(_state(), None, plan.History(), plan.Build(), id="absent-build"),
        pytest.param(
            _state(table_kind="m"), None, plan.History(), plan.Build(), id="materialized-view"
        ),
    ],
)
def test_decide(
    state: catalog.IndexState,
    desired: dict[str, Any] | None,
    history: plan.History,
    expected: plan.Action,
) -> None:
    assert plan.decide(SPEC, state, desired, history) == expected


def test_decide_names_the_spec_schema_and_table() -> None:
    spec = index_spec(schema="Sales", table="Order Lines")
    assert plan.decide(spec, catalog.IndexState(), None, plan.History()) == plan.Wait(
        "Waiting", "TableNotFound", "table Sales.Order Lines does not exist (yet)"
    )


def _on(oid: int, pages: int) -> catalog.IndexState:
    return catalog.IndexState(table_oid=oid, table_pages=pages)


@pytest.mark.parametrize(
    ("candidates", "expected"),
    [
        pytest.param([], [], id="empty"),
        pytest.param([("a", _on(1, 1))], ["a"], id="one"),
        pytest.param(
            [("small", _on(1, 10)), ("big", _on(2, 500)), ("mid", _on(3, 50))],
            ["big", "mid", "small"],
            id="biggest-table-first",
        ),
        pytest.param(
            [("first", _on(1, 5)), ("big", _on(2, 9)), ("second", _on(3, 5))],
            ["big", "first", "second"],
            id="ties-keep-input-order",
        ),
        pytest.param(
            [("empty", _on(1, 0)), ("one", _on(2, 1))], ["one", "empty"], id="zero-pages-last"
        ),
        pytest.param(
            # Two builds wait for table 1 (2 x 100 pages of work) and one for table 2 (150):
            # the longer chain starts first, the bigger table breaks ties.
            [("t2", _on(2, 150)), ("t1-a", _on(1, 100)), ("t1-b", _on(1, 100))],
            ["t1-a", "t1-b", "t2"],
            id="longest-chain-first",
        ),
    ],
)
def test_build_order(candidates: list[tuple[str, catalog.IndexState]], expected: list[str]) -> None:
    ordered = parallelism.build_order(candidates, lambda item: item[1])
    assert [name for name, _ in ordered] == expected


RETAIN = SPEC
DELETE = index_spec("orders-by-customer", deletionPolicy="Delete")


@pytest.mark.parametrize(
    ("spec", "state", "working", "expected"),
    [
        pytest.param(DELETE, _index(), True, plan.CancelWork(), id="own-work-cancelled-first"),
        pytest.param(
            DELETE,
            _state(),
            False,
            policy.Release("public.orders_by_customer does not exist; nothing to drop"),
            id="no-index",
        ),
        pytest.param(
            DELETE,
            _index(relation_kind="r"),
            False,
            policy.Release("public.orders_by_customer is not an index on public.orders; untouched"),
            id="name-clash-untouched",
        ),
        pytest.param(
            DELETE,
            _index(valid=False, builder=OWN_BUILD),
            False,
            plan.WaitForBuild(OWN_BUILD),
            id="never-under-a-live-build",
        ),
        pytest.param(DELETE, _index(), False, plan.DropIndex(only_invalid=False), id="delete"),
        pytest.param(
            RETAIN,
            _index(valid=False),
            False,
            plan.DropIndex(only_invalid=True),
            id="retain-drops-leftover",
        ),
        pytest.param(
            RETAIN,
            _index(),
            False,
            policy.Release(
                "deletionPolicy Retain: public.orders_by_customer stays in the database"
            ),
            id="retain-keeps-valid",
        ),
    ],
)
def test_decide_deletion(
    spec: Any, state: catalog.IndexState, working: bool, expected: plan.DeletionAction
) -> None:
    assert plan.decide_deletion(spec, state, working=working) == expected


def test_probe_waits_out_a_transient_failure_and_keeps_a_rejection() -> None:
    backing_off = plan.decide(SPEC, _index(), None, plan.History(retry_in=7, last_error="x"))
    assert backing_off == plan.Wait("Retrying", "BackingOff", "next attempt in 7s after: x")
    rejected = plan.Fail("InvalidDefinition", "no")
    assert plan.decide(SPEC, _index(), None, plan.History(definition_error=rejected)) == rejected
