"""Scheduled maintenance (core/maintenance.py) and how plan.decide applies it to a Ready index:
reindex on bloat or corruption, amcheck verification, the leftovers of a dead reindex, windows."""

from __future__ import annotations

import datetime
import re
from typing import Any

import pytest

from dbindex_operator.core import actions, catalog, errors, health, maintenance, names, plan
from dbindex_operator.core import statements as sql_statements
from dbindex_operator.core import windows as windows_api
from tests.unit.builders import SIGNATURE, index_spec

NOW = datetime.datetime(2026, 3, 10, 2, 0, tzinfo=datetime.UTC)
DAY = 24 * 3600.0
POLICY = maintenance.Policy(reindex_above=30.0, verify=True)
BUILDER = catalog.Progress(pid=42, phase="building index: scanning table", index_relid=7)


def _ago(**delta: float) -> str:
    return maintenance.iso(NOW - datetime.timedelta(**delta))


def _state(**fields: Any) -> catalog.IndexState:
    base: dict[str, Any] = {
        "table_oid": 500,
        "table_kind": "r",
        "table_pages": 10,
        "relation_oid": 900,
        "relation_kind": "i",
        "on_table": True,
        "valid": True,
        "signature": SIGNATURE,
    }
    base.update(fields)
    return catalog.IndexState(**base)


VERIFIED = {"verifiedAt": _ago(hours=1), "verifyResult": "Passed"}
BLOATED = {**VERIFIED, "bloatPercent": 61.2, "checkedAt": _ago(minutes=5)}
REINDEX_BLOAT = actions.Reindex(
    "IndexBloated", "estimated bloat 61.2% is above reindexWhenBloatPercentAbove 30%"
)


@pytest.mark.parametrize(
    ("policy", "method", "state", "health", "hold", "expected"),
    [
        pytest.param(None, "btree", _state(), BLOATED, 0, None, id="no-policy-no-work"),
        pytest.param(POLICY, "btree", _state(), VERIFIED, 0, None, id="healthy-and-verified"),
        pytest.param(POLICY, "btree", _state(), BLOATED, 0, REINDEX_BLOAT, id="bloat-over"),
        pytest.param(
            POLICY,
            "btree",
            _state(),
            {**BLOATED, "bloatPercent": 30.0},
            0,
            None,
            id="bloat-at-threshold-is-not-over",
        ),
        pytest.param(
            maintenance.Policy(verify=True),
            "btree",
            _state(),
            BLOATED,
            0,
            None,
            id="bloat-ignored-without-threshold",
        ),
        pytest.param(
            POLICY,
            "btree",
            _state(),
            {**BLOATED, "reindexedAt": _ago(minutes=1)},
            0,
            None,
            id="estimate-read-before-the-last-reindex",
        ),
        pytest.param(
            POLICY,
            "btree",
            _state(),
            {**BLOATED, "reindexedAt": _ago(days=2), "checkedAt": _ago(days=1)},
            0,
            None,
            id="within-the-cooldown",
        ),
        pytest.param(
            POLICY,
            "btree",
            _state(),
            {**BLOATED, "reindexedAt": _ago(days=8), "checkedAt": _ago(days=1)},
            0,
            REINDEX_BLOAT,
            id="after-the-cooldown",
        ),
        pytest.param(
            POLICY,
            "btree",
            _state(),
            {"verifyResult": "Corrupt", "verifyMessage": "bad page", "verifiedAt": _ago(hours=1)},
            0,
            actions.Reindex("IndexCorrupt", "amcheck found corruption: bad page"),
            id="corrupt",
        ),
        pytest.param(POLICY, "btree", _state(), {}, 0, actions.Verify(), id="never-verified"),
        pytest.param(
            POLICY,
            "btree",
            _state(),
            {"verifiedAt": _ago(hours=25), "verifyResult": "Passed"},
            0,
            actions.Verify(),
            id="verified-too-long-ago",
        ),
        pytest.param(
            POLICY,
            "btree",
            _state(),
            {"verifiedAt": _ago(hours=2), "verifyResult": "Unavailable"},
            0,
            None,
            id="amcheck-missing-is-not-asked-again-at-once",
        ),
        pytest.param(POLICY, "gin", _state(), {}, 0, None, id="verify-is-btree-only"),
        pytest.param(POLICY, "btree", _state(), BLOATED, 30.0, None, id="held-after-a-failure"),
        pytest.param(POLICY, "btree", _state(builder=BUILDER), BLOATED, 0, None, id="table-busy"),
        pytest.param(
            None,
            "btree",
            _state(reindex_leftovers=("orders_by_customer_ccnew",)),
            {},
            0,
            actions.DropReindexLeftover("orders_by_customer_ccnew"),
            id="leftover-dropped-even-without-policy",
        ),
        pytest.param(
            POLICY,
            "btree",
            _state(reindex_leftovers=("orders_by_customer_ccold",)),
            BLOATED,
            0,
            actions.DropReindexLeftover("orders_by_customer_ccold"),
            id="leftover-first",
        ),
        pytest.param(
            None,
            "btree",
            _state(reindex_leftovers=("orders_by_customer_ccnew",), builder=BUILDER),
            {},
            0,
            None,
            id="leftover-of-a-live-reindex-is-left-alone",
        ),
        pytest.param(
            None,
            "btree",
            _state(reindex_leftovers=("orders_by_customer_ccnew",)),
            {},
            5.0,
            None,
            id="leftover-after-the-backoff",
        ),
    ],
)
def test_decide(
    policy: maintenance.Policy | None,
    method: str,
    state: catalog.IndexState,
    health: dict[str, Any],
    hold: float,
    expected: actions.Action | None,
) -> None:
    found = maintenance.decide(
        policy, method, state, health, now=NOW, hold=hold, verify_every=DAY, cooldown=7 * DAY
    )
    assert found == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param({}, maintenance.Policy(), id="empty"),
        pytest.param(
            {"reindexWhenBloatPercentAbove": 40, "verify": True},
            maintenance.Policy(40.0, True),
            id="both",
        ),
        pytest.param({"reindexWhenBloatPercentAbove": 0}, maintenance.Policy(0.0), id="zero"),
    ],
)
def test_parse(raw: dict[str, Any], expected: maintenance.Policy) -> None:
    assert maintenance.parse(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param([], id="not-an-object"),
        pytest.param({"reindexWhenBloatPercentAbove": 100}, id="hundred"),
        pytest.param({"reindexWhenBloatPercentAbove": -1}, id="negative"),
        pytest.param({"reindexWhenBloatPercentAbove": "30"}, id="string"),
        pytest.param({"reindexWhenBloatPercentAbove": True}, id="bool"),
        pytest.param({"verify": "yes"}, id="verify-not-bool"),
    ],
)
def test_parse_refuses(raw: Any) -> None:
    with pytest.raises(errors.SpecError, match="maintenance"):
        maintenance.parse(raw)


def test_spec_carries_the_policy() -> None:
    spec = index_spec(maintenance={"reindexWhenBloatPercentAbove": 25, "verify": True})
    assert spec.maintenance == maintenance.Policy(25.0, True)
    assert index_spec().maintenance is None


def test_after_reindex_forgets_stale_figures_and_the_verdict() -> None:
    before = {
        "sizeBytes": 100,
        "bloatPercent": 60.0,
        "verifyResult": "Corrupt",
        "verifyMessage": "x",
        "verifiedAt": _ago(hours=1),
        "checkedAt": _ago(hours=1),
    }
    after = maintenance.after_reindex(before, reason="IndexCorrupt", now=NOW)
    assert after == {
        "sizeBytes": 100,
        "checkedAt": _ago(hours=1),
        "reindexedAt": maintenance.iso(NOW),
        "reindexReason": "IndexCorrupt",
    }
    # ... so the next decision verifies the new index rather than reindexing again
    decided = maintenance.decide(
        POLICY, "btree", _state(), after, now=NOW, hold=0, verify_every=DAY, cooldown=7 * DAY
    )
    assert decided == actions.Verify()


def test_a_health_pass_keeps_what_maintenance_wrote() -> None:
    facts = health.Facts(
        size_bytes=8192 * 20,
        method="btree",
        scans=3,
        tuples=1000.0,
        fillfactor=90,
        widths=(4,),
        scans_since="2026-01-01T00:00:00Z",
    )
    previous = maintenance.after_verify(
        maintenance.after_reindex({}, reason="IndexBloated", now=NOW),
        result="Passed",
        message="ok",
        now=NOW,
    )
    found = health.status(facts, now=NOW, previous=previous, unused_after=DAY)
    for key in maintenance.CARRIED:
        assert found[key] == previous[key]


# -- plan.decide: maintenance of a Ready index -------------------------------------------------

MAINTAINED = index_spec(maintenance={"reindexWhenBloatPercentAbove": 30, "verify": True})
OPEN_NOW = windows_api.parse({"windows": [{"schedule": "0 1 * * *", "duration": "4h"}]})
CLOSED_NOW = windows_api.parse({"windows": [{"schedule": "0 12 * * *", "duration": "1h"}]})


def _decide(
    spec: Any = MAINTAINED,
    state: catalog.IndexState | None = None,
    health_now: dict[str, Any] | None = None,
    **kwargs: Any,
) -> plan.Action:
    history = plan.History(built_here=True, managed=True, health=health_now or BLOATED)
    return plan.decide(spec, state or _state(), SIGNATURE, history, now=NOW, **kwargs)


def test_plan_reindexes_a_bloated_ready_index() -> None:
    assert _decide() == REINDEX_BLOAT


def test_plan_reindexes_only_inside_the_window_and_stays_ready_outside() -> None:
    assert _decide(window=OPEN_NOW) == REINDEX_BLOAT
    assert _decide(window=CLOSED_NOW) == plan.Ready(adopted=False)


def test_plan_drops_a_cancelled_reindex_copy_outside_the_window_only_with_cancel() -> None:
    leftover = _state(reindex_leftovers=("orders_by_customer_ccnew",))
    cancel = windows_api.parse({**_raw(CLOSED_NOW), "cancelOutsideWindow": True})
    assert _decide(state=leftover, window=CLOSED_NOW) == plan.Ready(adopted=False)
    assert _decide(state=leftover, window=cancel) == actions.DropReindexLeftover(
        "orders_by_customer_ccnew"
    )


def _raw(policy: windows_api.Policy) -> dict[str, Any]:
    return {
        "windows": [
            {"schedule": w.schedule, "duration": f"{int(w.duration.total_seconds())}s"}
            for w in policy.windows
        ]
    }


def test_plan_without_a_clock_does_no_maintenance() -> None:
    history = plan.History(built_here=True, health=BLOATED)
    assert plan.decide(MAINTAINED, _state(), SIGNATURE, history) == plan.Ready(adopted=False)


def test_plan_leaves_partitioned_tables_alone() -> None:
    assert _decide(state=_state(table_kind="p", relation_kind="I")) != REINDEX_BLOAT


def test_paused_shows_the_reindex_statement() -> None:
    paused = index_spec(paused=True, maintenance={"reindexWhenBloatPercentAbove": 30})
    found = _decide(spec=paused, health_now=BLOATED)
    assert found == plan.Paused(
        REINDEX_BLOAT, ("REINDEX INDEX CONCURRENTLY public.orders_by_customer",)
    )


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        pytest.param(
            REINDEX_BLOAT, ["REINDEX INDEX CONCURRENTLY public.orders_by_customer"], id="reindex"
        ),
        pytest.param(
            actions.Verify(),
            ["SELECT bt_index_check('public.orders_by_customer'::regclass, true)"],
            id="verify",
        ),
        pytest.param(
            actions.DropReindexLeftover("orders_by_customer_ccnew"),
            ["DROP INDEX CONCURRENTLY IF EXISTS public.orders_by_customer_ccnew"],
            id="leftover",
        ),
    ],
)
def test_statements(action: actions.Action, expected: list[str]) -> None:
    assert sql_statements.statements(MAINTAINED, _state(), action) == expected


def test_verify_quotes_names_inside_the_literal() -> None:
    spec = index_spec(schema="Sales", name="it's")
    assert sql_statements.statements(spec, _state(), actions.Verify()) == [
        """SELECT bt_index_check('"Sales"."it''s"'::regclass, true)"""
    ]


# -- the names of REINDEX CONCURRENTLY's copies -------------------------------------------------


@pytest.mark.parametrize(
    ("name", "matches", "misses"),
    [
        pytest.param(
            "orders_idx",
            ["orders_idx_ccnew", "orders_idx_ccold", "orders_idx_ccnew1", "orders_idx_ccold12"],
            ["orders_idx", "orders_idx_ccnew0", "xorders_idx_ccnew", "orders_idx_ccnewer"],
            id="plain",
        ),
        pytest.param(
            "a.b+c",
            ["a.b+c_ccnew"],
            ["aXb+c_ccnew", "a.bbc_ccnew"],
            id="regex-characters-are-literal",
        ),
        pytest.param(
            "x" * 63,
            ["x" * 57 + "_ccnew", "x" * 56 + "_ccnew1", "x" * 55 + "_ccold12"],
            ["x" * 63 + "_ccnew", "x" * 57 + "_ccnew1"],
            id="truncated-to-63-bytes",
        ),
        pytest.param(
            "é" * 31,  # 62 bytes: cut at a character boundary (pg_mbcliplen)
            ["é" * 28 + "_ccnew"],
            ["é" * 31 + "_ccnew"],
            id="multibyte",
        ),
    ],
)
def test_reindex_leftover_names(name: str, matches: list[str], misses: list[str]) -> None:
    # PostgreSQL's ARE and Python's re agree on this subset (literals, groups, classes, \\.)
    pattern = re.compile(names.reindex_leftovers(name))
    for candidate in matches:
        assert pattern.match(candidate), candidate
    for candidate in misses:
        assert not pattern.match(candidate), candidate
