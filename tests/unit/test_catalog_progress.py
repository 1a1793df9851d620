"""catalog.Progress from both of its sources: PROGRESS rows (columns) and STATE's builder (JSON,
where PostgreSQL renders an oid as a string). A string index_relid never equalled the index's
oid, so a build in flight by another session (a dead leader's orphan) was taken for a build of
another index on the table and never watched (issue #16)."""

from __future__ import annotations

import pytest

from dbindex_operator.core import catalog


@pytest.mark.parametrize(
    "index_relid",
    [
        pytest.param(19480, id="column"),
        pytest.param("19480", id="json-string"),
    ],
)
def test_index_relid_is_an_int(index_relid: object) -> None:
    row = {"pid": 7, "phase": "waiting for writers before build", "index_relid": index_relid}
    assert catalog.Progress.from_row(row).index_relid == 19480


def test_no_index_yet() -> None:
    assert catalog.Progress.from_row({"pid": 7, "index_relid": None}).index_relid is None


def test_a_build_in_flight_of_our_index_is_recognised() -> None:
    builder = catalog.Progress.from_row({"pid": 7, "index_relid": "19480"})
    state = catalog.IndexState(table_oid=1, relation_oid=19480, relation_kind="i", builder=builder)
    assert state.built_by_someone
