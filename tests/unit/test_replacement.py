"""core/replacement.py, core/names.py and the SQL of a replacement: every step from the catalog."""

from __future__ import annotations

from typing import Any

import pytest

from dbindex_operator.core import catalog, names, plan, sql
from tests.unit.builders import SIGNATURE, index_spec

SPEC = index_spec("orders-by-customer")
MANUAL = index_spec("orders-by-customer", updatePolicy="Manual")
ADOPT_REPLACE = index_spec("orders-by-customer", adoptPolicy="Replace")
PAUSED = index_spec("orders-by-customer", paused=True)
WANT = SIGNATURE
OTHER = {**WANT, "unique": True}
DIFF = ("unique: want False, have True",)
NEW, OLD = names.replacement("orders_by_customer"), names.retired("orders_by_customer")
MANAGED = plan.History(managed=True)
BUILDING_NEW = catalog.Progress(pid=7, phase="building index: scanning table", index_relid=950)
OTHER_BUILD = catalog.Progress(pid=8, phase="building index: scanning table", index_relid=999)


def _state(**fields: Any) -> catalog.IndexState:
    base: dict[str, Any] = {
        "table_oid": 500,
        "table_kind": "r",
        "relation_oid": 900,
        "relation_kind": "i",
        "on_table": True,
        "valid": True,
        "signature": OTHER,
    }
    base.update(fields)
    return catalog.IndexState(**base)


def _new(**fields: Any) -> dict[str, Any]:
    return {
        "replacement_oid": 950,
        "replacement_valid": True,
        "replacement_signature": WANT,
        **fields,
    }


@pytest.mark.parametrize(
    ("spec", "state", "history", "expected"),
    [
        pytest.param(SPEC, _state(), MANAGED, plan.BuildReplacement(DIFF), id="start"),
        pytest.param(
            SPEC,
            _state(),
            plan.History(managed=True, was_ready=True),
            plan.BuildReplacement(DIFF, drift="the definition had been changed by hand"),
            id="hand-change-is-drift",
        ),
        pytest.param(
            SPEC,
            _state(**_new(replacement_valid=False, replacement_signature=None)),
            MANAGED,
            plan.DropReplacement(),
            id="dead-replacement-dropped",
        ),
        pytest.param(
            SPEC,
            _state(
                **_new(replacement_valid=False, replacement_signature=None), builder=BUILDING_NEW
            ),
            MANAGED,
            plan.Wait(
                "Replacing",
                "ReplacementBuilding",
                "backend 7 is building the replacement of public.orders_by_customer",
            ),
            id="replacement-building-watched",
        ),
        pytest.param(SPEC, _state(**_new()), MANAGED, plan.Swap(), id="valid-replacement-swapped"),
        pytest.param(
            SPEC,
            _state(**_new(replacement_signature=OTHER)),
            MANAGED,
            plan.DropReplacement(),
            id="replacement-for-an-older-spec",
        ),
        pytest.param(
            SPEC, _state(retired_oid=960), MANAGED, plan.DropRetired(), id="retired-goes-first"
        ),
        pytest.param(
            SPEC,
            _state(signature=WANT, retired_oid=960),
            MANAGED,
            plan.DropRetired(),
            id="after-swap-drop-old",
        ),
        pytest.param(
            SPEC,
            _state(signature=WANT, **_new()),
            MANAGED,
            plan.DropReplacement(),
            id="stale-replacement-never-two-copies",
        ),
        pytest.param(SPEC, _state(signature=WANT), MANAGED, plan.Ready(adopted=True), id="done"),
        pytest.param(
            SPEC,
            _state(builder=OTHER_BUILD),
            MANAGED,
            plan.Wait(
                "Pending",
                "TableBusy",
                "backend 8 is building another index on public.orders; "
                "only one build per table runs at a time",
            ),
            id="table-busy",
        ),
        pytest.param(
            SPEC,
            _state(),
            plan.History(managed=True, failed=plan.Fail("SwapFailed", "x")),
            plan.Fail("SwapFailed", "x"),
            id="permanent-failure-kept",
        ),
    ],
)
def test_replacement_steps(
    spec: Any, state: catalog.IndexState, history: plan.History, expected: plan.Action
) -> None:
    assert plan.decide(spec, state, WANT, history) == expected


@pytest.mark.parametrize(
    ("spec", "state", "history", "reason", "words"),
    [
        pytest.param(
            SPEC,
            _state(constraint_kind="p"),
            MANAGED,
            "ConstraintIndex",
            "PRIMARY KEY",
            id="primary-key",
        ),
        pytest.param(
            SPEC,
            _state(constraint_kind="u"),
            MANAGED,
            "ConstraintIndex",
            "UNIQUE constraint",
            id="unique-constraint",
        ),
        pytest.param(
            SPEC, _state(constraint_kind="x"), MANAGED, "ConstraintIndex", "EXCLUDE", id="exclusion"
        ),
        pytest.param(
            SPEC,
            _state(constraint_kind="f"),
            MANAGED,
            "ConstraintIndex",
            "FOREIGN KEY",
            id="referenced-by-fk",
        ),
        pytest.param(
            SPEC,
            _state(replica_identity=True),
            MANAGED,
            "ConstraintIndex",
            "REPLICA IDENTITY",
            id="replica-identity",
        ),
        pytest.param(
            MANUAL, _state(), MANAGED, "DefinitionMismatch", "updatePolicy is Manual", id="manual"
        ),
        pytest.param(
            SPEC,
            _state(),
            plan.History(),
            "DefinitionMismatch",
            "adoptPolicy Refuse",
            id="adoption-refused",
        ),
    ],
)
def test_refusals_touch_nothing(
    spec: Any, state: catalog.IndexState, history: plan.History, reason: str, words: str
) -> None:
    action = plan.decide(spec, state, WANT, history)
    assert isinstance(action, plan.Fail) and action.reason == reason
    assert words in action.message and "unique: want False, have True" in action.message


@pytest.mark.parametrize(
    ("spec", "history"),
    [
        pytest.param(MANUAL, plan.History(managed=True, approved=True), id="manual-approved"),
        pytest.param(ADOPT_REPLACE, plan.History(), id="adopt-replace"),
    ],
)
def test_replacement_allowed(spec: Any, history: plan.History) -> None:
    assert plan.decide(spec, _state(), WANT, history) == plan.BuildReplacement(DIFF)


def test_a_started_replacement_is_carried_forward_under_manual() -> None:
    """After a restart the approval is gone from memory; the replacement in the catalog is not."""
    assert plan.decide(MANUAL, _state(**_new()), WANT, MANAGED) == plan.Swap()


@pytest.mark.parametrize(
    ("state", "history", "expected"),
    [
        pytest.param(
            _state(relation_oid=None, valid=False, signature=None),
            plan.History(),
            plan.Build(),
            id="first-build",
        ),
        pytest.param(
            _state(relation_oid=None, valid=False, signature=None),
            plan.History(managed=True, was_ready=True),
            plan.Build(drift="the index had been dropped"),
            id="dropped-by-hand",
        ),
        pytest.param(
            _state(valid=False),
            plan.History(managed=True, was_ready=True),
            plan.DropLeftover(drift="the index had become INVALID"),
            id="made-invalid",
        ),
        pytest.param(
            _state(relation_oid=None, valid=False, signature=None, **_new()),
            MANAGED,
            plan.DropReplacement(),
            id="orphan-replacement",
        ),
        pytest.param(
            _state(relation_oid=None, valid=False, signature=None, retired_oid=960),
            MANAGED,
            plan.DropRetired(),
            id="orphan-retired",
        ),
    ],
)
def test_missing_or_invalid_index(
    state: catalog.IndexState, history: plan.History, expected: plan.Action
) -> None:
    assert plan.decide(SPEC, state, WANT, history) == expected


def test_paused_wraps_the_action_with_its_sql() -> None:
    state = _state(relation_oid=None, valid=False, signature=None)
    action = plan.decide(PAUSED, state, WANT, plan.History())
    assert action == plan.Paused(
        plan.Build(),
        (
            "CREATE INDEX CONCURRENTLY orders_by_customer ON public.orders "
            "USING btree (customer_id)",
        ),
    )
    assert plan.decide(PAUSED, _state(signature=WANT), WANT, MANAGED) == plan.Ready(adopted=True)


def test_statements_of_a_whole_replacement() -> None:
    state = _state(clustered=True, comment="it's ours", stat_targets=((1, 500),))
    spec = index_spec("orders-by-customer", columns=[{"expression": "lower(email)"}])
    assert plan.statements(spec, state, plan.BuildReplacement(DIFF)) == [
        f"CREATE INDEX CONCURRENTLY {NEW} ON public.orders USING btree ((lower(email)))",
        "BEGIN",
        f"ALTER INDEX public.orders_by_customer RENAME TO {OLD}",
        f"ALTER INDEX public.{NEW} RENAME TO orders_by_customer",
        "ALTER TABLE public.orders CLUSTER ON orders_by_customer",
        "COMMENT ON INDEX public.orders_by_customer IS 'it''s ours'",
        "ALTER INDEX public.orders_by_customer ALTER COLUMN 1 SET STATISTICS 500",
        "COMMIT",
        f"DROP INDEX CONCURRENTLY IF EXISTS public.{OLD}",
    ]
    assert plan.statements(spec, state, plan.DropReplacement()) == [
        f"DROP INDEX CONCURRENTLY IF EXISTS public.{NEW}"
    ]
    assert plan.statements(spec, state, plan.Ready(adopted=False)) == []


@pytest.mark.parametrize(
    ("fields", "carried"),
    [
        pytest.param({"method": "hash"}, False, id="hash-cannot-cluster"),
        pytest.param({"where": "customer_id > 0"}, False, id="partial-cannot-cluster"),
        pytest.param({}, True, id="btree-clusters"),
    ],
)
def test_cluster_on_is_carried_only_where_possible(fields: dict[str, Any], carried: bool) -> None:
    spec = index_spec("orders-by-customer", **fields)
    swap = sql.swap_statements(spec, _state(clustered=True, stat_targets=((1, 100),)))
    assert any("CLUSTER ON" in s for s in swap) is carried
    assert not any("STATISTICS" in s for s in swap), "a plain column has no statistics target"


@pytest.mark.parametrize(
    "name",
    ["orders_by_customer", "x" * 63, "ü" * 31, "Mixed Case"],
)
def test_derived_names_fit_and_are_recognisable(name: str) -> None:
    for derived in (names.replacement(name), names.retired(name)):
        assert len(derived.encode()) <= 63
        assert names.is_ours(derived)
        derived.encode().decode()  # never half a character
    assert names.replacement(name) != names.retired(name)
    assert not names.is_ours(name)


def test_derived_names_of_long_names_stay_distinct() -> None:
    a, b = "a" * 60 + "one", "a" * 60 + "two"
    assert names.replacement(a) != names.replacement(b)


@pytest.mark.parametrize(
    ("spec", "state", "expected"),
    [
        pytest.param(
            SPEC,
            _state(**_new()),
            plan.DropIndex(only_invalid=False, name=NEW),
            id="replacement-dropped-whatever-the-policy",
        ),
        pytest.param(
            SPEC,
            _state(retired_oid=960),
            plan.DropIndex(only_invalid=False, name=OLD),
            id="retired-dropped",
        ),
        pytest.param(
            SPEC,
            _state(**_new(), builder=BUILDING_NEW),
            plan.WaitForBuild(BUILDING_NEW),
            id="never-under-a-live-build",
        ),
    ],
)
def test_deletion_cleans_our_own_indexes_first(
    spec: Any, state: catalog.IndexState, expected: plan.DeletionAction
) -> None:
    assert plan.decide_deletion(spec, state, working=False) == expected
