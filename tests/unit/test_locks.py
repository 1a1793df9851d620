"""core/locks.py: the advisory lock key of an index, and what the catalog re-read compares."""

from __future__ import annotations

import dataclasses

import pytest

from dbindex_operator.core import catalog, locks, partitions

INT64 = (-(2**63), 2**63 - 1)


def test_key_is_pinned() -> None:
    """The key must never change between releases: during a rolling update an old replica and
    a new one must take the same lock for the same index. blake2b-64, big-endian, signed."""
    assert locks.key("public", "orders_created_idx") == -528664319745341439
    assert locks.key("public", "orders_created_idx") == locks.key("public", "orders_created_idx")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        pytest.param(("public", "i"), ("public", "j"), id="other-name"),
        pytest.param(("public", "i"), ("app", "i"), id="other-schema"),
        pytest.param(("ab", "c"), ("a", "bc"), id="no-concatenation-collision"),
        pytest.param(("public", "I"), ("public", "i"), id="case-sensitive"),
        pytest.param(("public", "idx"), ("public", "idx "), id="trailing-space"),
    ],
)
def test_distinct_identities_get_distinct_keys(a: tuple[str, str], b: tuple[str, str]) -> None:
    assert locks.key(*a) != locks.key(*b)


@pytest.mark.parametrize(
    "identity",
    [
        pytest.param(("public", "i"), id="short"),
        pytest.param(("s" * 63, "n" * 63), id="longest-names"),
        pytest.param(("sch\u00e9ma", "\u7d22\u5f15"), id="unicode"),
        pytest.param(("", ""), id="empty"),
    ],
)
def test_key_is_a_signed_bigint(identity: tuple[str, str]) -> None:
    key = locks.key(*identity)
    assert INT64[0] <= key <= INT64[1]


def test_keys_spread() -> None:
    """10,000 index names in one schema: no two share a lock."""
    keys = {locks.key("public", f"idx_{n}") for n in range(10_000)}
    assert len(keys) == 10_000


@pytest.mark.parametrize(
    ("key", "halves"),
    [
        pytest.param(0, (0, 0), id="zero"),
        pytest.param(1, (0, 1), id="one"),
        pytest.param(2**32 + 5, (1, 5), id="high-and-low"),
        pytest.param(-1, (0xFFFFFFFF, 0xFFFFFFFF), id="minus-one"),
        pytest.param(-(2**63), (0x80000000, 0), id="most-negative"),
    ],
)
def test_halves_match_pg_locks(key: int, halves: tuple[int, int]) -> None:
    """pg_locks shows a bigint advisory key as classid (high half) and objid (low half)."""
    assert locks.halves(key) == halves


BUILDER = catalog.Progress(pid=4242, phase="building index", index_relid=99)
BASE = catalog.IndexState(table_oid=10, relation_oid=None)
LEAF = partitions.Node(oid=11, parent=10, leaf=True, schema="public", name="p1")


@pytest.mark.parametrize(
    ("before", "now", "says"),
    [
        pytest.param(BASE, BASE, None, id="same"),
        pytest.param(BASE, dataclasses.replace(BASE, table_pages=99), None, id="size-ignored"),
        pytest.param(
            dataclasses.replace(BASE, builder=BUILDER),
            dataclasses.replace(BASE, builder=dataclasses.replace(BUILDER, blocks_done=7)),
            None,
            id="progress-ignored",
        ),
        pytest.param(
            BASE,
            dataclasses.replace(BASE, relation_oid=99, relation_kind="i", on_table=True),
            "the index was created or dropped; the relation under the index's name changed",
            id="index-appeared",
        ),
        pytest.param(
            dataclasses.replace(BASE, relation_oid=99, relation_kind="i"),
            dataclasses.replace(BASE, relation_oid=99, relation_kind="i", valid=True),
            "the index's validity changed",
            id="became-valid",
        ),
        pytest.param(
            BASE,
            dataclasses.replace(BASE, builder=BUILDER),
            "another backend started or finished a CREATE INDEX on the table",
            id="someone-builds",
        ),
        pytest.param(
            BASE,
            dataclasses.replace(BASE, replacement_oid=5),
            "the replacement index was created or dropped",
            id="replacement-appeared",
        ),
        pytest.param(
            dataclasses.replace(BASE, partitions=(LEAF,)),
            dataclasses.replace(
                BASE,
                partitions=(
                    dataclasses.replace(
                        LEAF, indexes=(partitions.PartIndex(50, "p1_idx", False, None),)
                    ),
                ),
            ),
            "the partitions or their indexes changed",
            id="partition-index-appeared",
        ),
    ],
)
def test_changed(before: catalog.IndexState, now: catalog.IndexState, says: str | None) -> None:
    assert locks.changed(before, now) == says
