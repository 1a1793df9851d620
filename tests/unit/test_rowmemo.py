"""core/rowmemo.py: an unchanged catalog row gives back last pass's state object, anything else
is parsed afresh."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from dbindex_operator.core import catalog, rowmemo

T1 = ("public", "orders", "orders_by_customer")
T2 = ("public", "orders", "orders_by_day")


def _row(**fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "table_oid": 500,
        "table_pages": 10,
        "table_kind": "r",
        "relation_oid": 900,
        "relation_kind": "i",
        "on_table": True,
        "valid": True,
        "definition": "CREATE INDEX orders_by_customer ON public.orders USING btree (customer_id)",
        "signature": '{"method": "btree"}',
        "builder": None,
    }
    row.update(fields)
    return row


def test_first_read_parses_every_row() -> None:
    states, memo = rowmemo.states([T1, T2], [_row(), _row(relation_oid=901)], 150004, {})

    assert [s.relation_oid for s in states] == [900, 901]
    assert all(s.server_version == 150004 for s in states)
    assert states[0] == catalog.IndexState(
        table_oid=500,
        table_pages=10,
        table_kind="r",
        relation_oid=900,
        relation_kind="i",
        on_table=True,
        valid=True,
        definition=_row()["definition"],
        signature={"method": "btree"},
        server_version=150004,
    )
    assert set(memo) == {T1, T2}


@pytest.mark.parametrize(
    ("row", "version", "target", "reused"),
    [
        pytest.param(_row(), 150004, T1, True, id="same-row"),
        pytest.param(_row(valid=False), 150004, T1, False, id="row-changed"),
        pytest.param(_row(signature='{"method": "hash"}'), 150004, T1, False, id="signature"),
        pytest.param(_row(builder='{"pid": 7}'), 150004, T1, False, id="a-build-began"),
        pytest.param(_row(), 160002, T1, False, id="other-server-version"),
        pytest.param(_row(), 150004, T2, False, id="other-target"),
    ],
)
def test_reuse_only_an_equal_row(
    row: dict[str, Any], version: int, target: rowmemo.Target, reused: bool
) -> None:
    [before], memo = rowmemo.states([T1], [_row()], 150004, {})

    [after], fresh = rowmemo.states([target], [row], version, memo)

    assert (after is before) is reused
    assert after == dataclass_of(row, version)
    assert fresh[target][2] is after


def dataclass_of(row: dict[str, Any], version: int) -> catalog.IndexState:
    return dataclasses.replace(catalog.state_from_row(row), server_version=version)


def test_rows_and_targets_must_match() -> None:
    with pytest.raises(ValueError):
        rowmemo.states([T1, T2], [_row()], 150004, {})


def test_keep_drops_forgotten_targets() -> None:
    _, memo = rowmemo.states([T1, T2], [_row(), _row()], 150004, {})

    kept = rowmemo.keep(memo, [T2, ("public", "orders", "not_read_yet")])

    assert set(kept) == {T2}
    assert kept[T2] is memo[T2]
