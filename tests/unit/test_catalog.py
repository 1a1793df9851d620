"""catalog: rows of STATE / PROGRESS turned into frozen facts."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dbindex_operator.core import catalog, catalog_rows, names

_BUILDER = {
    "pid": 77,
    "phase": "building index: scanning table",
    "index_relid": 900,
    "blocks_total": 100,
    "blocks_done": 40,
    "tuples_total": 0,
    "tuples_done": 0,
    "lockers_total": 0,
    "lockers_done": 0,
    "current_locker_pid": 0,
    "blocking_pids": [9, 3],
}
_BUILDER_PROGRESS = catalog.Progress(
    pid=77,
    phase="building index: scanning table",
    index_relid=900,
    blocks_total=100,
    blocks_done=40,
    blocking_pids=(3, 9),
)
_SIGNATURE = {"method": "btree", "unique": True}


@pytest.mark.parametrize(
    ("row", "pid", "expected"),
    [
        pytest.param(_BUILDER, None, _BUILDER_PROGRESS, id="full-row-blocking-sorted"),
        pytest.param(
            {
                "pid": 5,
                "phase": "waiting for old snapshots",
                "index_relid": 1,
                "blocks_total": 1,
                "blocks_done": 2,
                "tuples_total": 3,
                "tuples_done": 4,
                "lockers_total": 5,
                "lockers_done": 6,
                "current_locker_pid": 7,
                "blocking_pids": [8],
            },
            None,
            catalog.Progress(5, "waiting for old snapshots", 1, 1, 2, 3, 4, 5, 6, 7, (8,)),
            id="every-counter-in-its-place",
        ),
        pytest.param(
            {
                "backend": 12,
                "pid": None,
                "phase": None,
                "index_relid": None,
                "blocks_total": None,
                "blocks_done": None,
                "tuples_total": None,
                "tuples_done": None,
                "lockers_total": None,
                "lockers_done": None,
                "current_locker_pid": None,
                "blocking_pids": [44],
            },
            12,
            catalog.Progress(pid=12, blocking_pids=(44,)),
            id="no-progress-row-yet",
        ),
        pytest.param({"pid": "8"}, None, catalog.Progress(pid=8), id="minimal-and-str-pid"),
        pytest.param(
            {"pid": 8, "blocking_pids": None}, None, catalog.Progress(pid=8), id="null-blocking"
        ),
        pytest.param({"pid": 8}, 9, catalog.Progress(pid=9), id="explicit-pid-wins"),
    ],
)
def test_progress_from_row(
    row: dict[str, Any], pid: int | None, expected: catalog.Progress
) -> None:
    assert catalog.Progress.from_row(row, pid=pid) == expected


def _row(**fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "ord": 1,
        "table_oid": None,
        "table_pages": None,
        "table_kind": None,
        "relation_oid": None,
        "relation_kind": None,
        "on_table": None,
        "valid": None,
        "definition": None,
        "signature": None,
        "builder": None,
    }
    row.update(fields)
    return row


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        pytest.param(_row(), catalog.IndexState(), id="nothing-exists"),
        pytest.param(
            _row(table_oid=500, table_pages=1234, table_kind=b"r"),
            catalog.IndexState(table_oid=500, table_pages=1234, table_kind="r"),
            id="table-only-bytes-kind",
        ),
        pytest.param(
            _row(table_oid=500, table_pages=0, table_kind="p"),
            catalog.IndexState(table_oid=500, table_pages=0, table_kind="p"),
            id="str-kind",
        ),
        pytest.param(
            _row(
                table_oid=500,
                table_pages=3,
                table_kind=b"r",
                relation_oid=900,
                relation_kind=b"i",
                on_table=True,
                valid=True,
                definition="CREATE UNIQUE INDEX i ON public.t USING btree (a)",
                signature=json.dumps(_SIGNATURE),
            ),
            catalog.IndexState(
                table_oid=500,
                table_pages=3,
                table_kind="r",
                relation_oid=900,
                relation_kind="i",
                on_table=True,
                valid=True,
                definition="CREATE UNIQUE INDEX i ON public.t USING btree (a)",
                signature=_SIGNATURE,
            ),
            id="valid-index-json-string-signature",
        ),
        pytest.param(
            _row(table_oid=500, relation_oid=900, relation_kind="i", signature=_SIGNATURE),
            catalog.IndexState(
                table_oid=500, relation_oid=900, relation_kind="i", signature=_SIGNATURE
            ),
            id="dict-signature",
        ),
        pytest.param(
            _row(table_oid=500, relation_oid=900, relation_kind=b"r", on_table=None),
            catalog.IndexState(table_oid=500, relation_oid=900, relation_kind="r"),
            id="name-clash-with-table",
        ),
        pytest.param(
            _row(table_oid=500, builder=json.dumps(_BUILDER)),
            catalog.IndexState(table_oid=500, builder=_BUILDER_PROGRESS),
            id="json-string-builder",
        ),
        pytest.param(
            _row(table_oid=500, builder=_BUILDER),
            catalog.IndexState(table_oid=500, builder=_BUILDER_PROGRESS),
            id="dict-builder",
        ),
    ],
)
def test_state_from_row(row: dict[str, Any], expected: catalog.IndexState) -> None:
    assert catalog_rows.state_from_row(row) == expected


@pytest.mark.parametrize(
    ("state", "table_exists", "index_exists", "built_by_someone"),
    [
        pytest.param(catalog.IndexState(), False, False, False, id="nothing"),
        pytest.param(catalog.IndexState(table_oid=1), True, False, False, id="table"),
        pytest.param(
            catalog.IndexState(table_oid=1, relation_oid=900), True, True, False, id="index"
        ),
        pytest.param(
            catalog.IndexState(
                table_oid=1, relation_oid=900, builder=catalog.Progress(7, index_relid=900)
            ),
            True,
            True,
            True,
            id="this-index-being-built",
        ),
        pytest.param(
            catalog.IndexState(
                table_oid=1, relation_oid=900, builder=catalog.Progress(7, index_relid=901)
            ),
            True,
            True,
            False,
            id="another-index-being-built",
        ),
        pytest.param(
            catalog.IndexState(table_oid=1, relation_oid=900, builder=catalog.Progress(7)),
            True,
            True,
            False,
            id="builder-without-index-relid",
        ),
        pytest.param(
            catalog.IndexState(table_oid=1, builder=catalog.Progress(7, index_relid=None)),
            True,
            False,
            False,
            id="no-index-and-no-relid",
        ),
        pytest.param(
            catalog.IndexState(table_oid=0, relation_oid=0), True, True, False, id="oid-zero"
        ),
    ],
)
def test_index_state_properties(
    state: catalog.IndexState, table_exists: bool, index_exists: bool, built_by_someone: bool
) -> None:
    assert (state.table_exists, state.index_exists, state.built_by_someone) == (
        table_exists,
        index_exists,
        built_by_someone,
    )


@pytest.mark.parametrize(
    ("targets", "expected"),
    [
        pytest.param([], ([], [], [], [], [], []), id="empty"),
        pytest.param(
            [("public", "orders", "i1"), ("Sales", "lines", "i2")],
            (
                ["public", "Sales"],
                ["orders", "lines"],
                ["i1", "i2"],
                ["i1_dbinew_4cd9b767", "i2_dbinew_420fce31"],
                ["i1_dbiold_4cd9b767", "i2_dbiold_420fce31"],
                [
                    "^(i1_cc(new|old)|i1_cc(new|old)[1-9]|i1_cc(new|old)[1-9][0-9])$",
                    "^(i2_cc(new|old)|i2_cc(new|old)[1-9]|i2_cc(new|old)[1-9][0-9])$",
                ],
            ),
            id="parallel-arrays-in-order",
        ),
    ],
)
def test_state_arguments(
    targets: list[tuple[str, str, str]], expected: tuple[list[str], ...]
) -> None:
    assert catalog.state_arguments(targets) == expected


def test_fingerprint_tells_rows_apart() -> None:
    """runtime/resting.py skips deciding an object at rest only while its row's fingerprint
    stays the same: any change of a value or of the server version changes it."""
    base = _row(table_oid=500, relation_oid=900, valid=True, signature='{"method": "btree"}')
    same = catalog_rows.fingerprint(dict(base), 150004)
    assert catalog_rows.fingerprint(base, 150004) == same
    assert len(same) == 16
    for changed in (
        {"valid": False},
        {"signature": '{"method": "hash"}'},
        {"builder": '{"pid": 7}'},
        {"table_pages": 1},
    ):
        assert catalog_rows.fingerprint({**base, **changed}, 150004) != same, changed
    assert catalog_rows.fingerprint(base, 160002) != same
    # Not part of the state's equality: states parsed from different passes compare equal.
    assert catalog.IndexState(fingerprint=b"a") == catalog.IndexState(fingerprint=b"b")


def test_state_arguments_derive_each_name_once() -> None:
    """A resync pass asks for the same objects' derived names every minute: computed once."""
    catalog._derived_names.cache_clear()
    targets = [("public", "t", "i_one"), ("public", "t", "i_two")]
    first = catalog.state_arguments(targets)
    assert catalog.state_arguments(targets) == first
    info = catalog._derived_names.cache_info()
    assert (info.misses, info.hits) == (2, 2)
    assert first[3:] == (
        [names.replacement("i_one"), names.replacement("i_two")],
        [names.retired("i_one"), names.retired("i_two")],
        [names.reindex_leftovers("i_one"), names.reindex_leftovers("i_two")],
    )
