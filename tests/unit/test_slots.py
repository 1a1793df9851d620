"""slots.Slots: at most N builds per database, one per table, never blocking."""

from __future__ import annotations

import pytest

from dbindex_operator.core import slots

DB1 = ("pg1", "5432", "shop")
DB2 = ("pg2", "5432", "shop")
DB1_OTHER_NAME = ("pg1", "5432", "billing")

Step = tuple[str, tuple[str, str, str], int, bool | None]


@pytest.mark.parametrize(
    ("per_database", "steps", "running"),
    [
        pytest.param(
            2,
            [("acquire", DB1, 1, True), ("acquire", DB1, 2, True)],
            {DB1: 2},
            id="two-tables-within-limit",
        ),
        pytest.param(
            2,
            [("acquire", DB1, 1, True), ("acquire", DB1, 1, False)],
            {DB1: 1},
            id="one-per-table",
        ),
        pytest.param(
            2,
            [("acquire", DB1, 1, True), ("acquire", DB1, 2, True), ("acquire", DB1, 3, False)],
            {DB1: 2},
            id="per-database-limit",
        ),
        pytest.param(
            1,
            [
                ("acquire", DB1, 1, True),
                ("acquire", DB2, 1, True),
                ("acquire", DB1_OTHER_NAME, 1, True),
            ],
            {DB1: 1, DB2: 1, DB1_OTHER_NAME: 1},
            id="databases-independent-same-oid",
        ),
        pytest.param(
            1,
            [("acquire", DB1, 1, True), ("release", DB1, 1, None), ("acquire", DB1, 2, True)],
            {DB1: 1},
            id="release-frees-the-database-slot",
        ),
        pytest.param(
            2,
            [("acquire", DB1, 1, True), ("release", DB1, 1, None), ("acquire", DB1, 1, True)],
            {DB1: 1},
            id="release-frees-the-table",
        ),
        pytest.param(
            2,
            [
                ("acquire", DB1, 1, True),
                ("release", DB1, 2, None),
                ("release", DB2, 1, None),
                ("release", DB1, 1, None),
                ("release", DB1, 1, None),
            ],
            {DB1: 0, DB2: 0},
            id="release-of-unheld-is-a-no-op",
        ),
        pytest.param(
            1,
            [("acquire", DB1, 1, True), ("acquire", DB1, 2, False), ("acquire", DB1, 1, False)],
            {DB1: 1},
            id="refusal-takes-nothing",
        ),
    ],
)
def test_slots(
    per_database: int, steps: list[Step], running: dict[tuple[str, str, str], int]
) -> None:
    pool = slots.Slots(per_database)
    results = []
    for op, database, table_oid, _ in steps:
        if op == "acquire":
            results.append(pool.try_acquire(database, table_oid))
        else:
            pool.release(database, table_oid)
            results.append(None)

    assert results == [expected for *_, expected in steps]
    assert {database: pool.running(database) for database in running} == running
