"""core/compat.py: what each PostgreSQL major allows, and plan.decide refusing what it does not;
the version-independent catalog SQL (columns that exist only on newer majors)."""

from __future__ import annotations

import datetime

import pytest

from dbindex_operator.core import catalog, compat, health, plan, signature
from tests.unit.builders import index_spec

PLAIN = index_spec("orders-by-customer")
NND = index_spec("orders-by-customer", unique=True, nullsNotDistinct=True)


@pytest.mark.parametrize(
    ("spec", "version", "expected"),
    [
        pytest.param(PLAIN, 0, None, id="unknown-version-refuses-nothing"),
        pytest.param(NND, 0, None, id="unknown-version-nnd"),
        pytest.param(PLAIN, 140023, None, id="14-plain"),
        pytest.param(
            NND,
            140023,
            "nullsNotDistinct (NULLS NOT DISTINCT) needs PostgreSQL 15 or later; "
            "this server runs 14.23",
            id="14-nulls-not-distinct",
        ),
        pytest.param(NND, 150000, None, id="15.0-nulls-not-distinct"),
        pytest.param(NND, 180004, None, id="18-nulls-not-distinct"),
        pytest.param(
            PLAIN,
            130023,
            "PostgreSQL 13.23 is not supported: the operator needs PostgreSQL 14 or later "
            "(client_connection_check_interval)",
            id="13-too-old",
        ),
    ],
)
def test_unsupported(spec: object, version: int, expected: str | None) -> None:
    assert compat.unsupported(spec, version) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        pytest.param((14, 0, 23), 140023, id="14.23"),
        pytest.param((15, 0, 0), 150000, id="15.0"),
        pytest.param((18, 0, 4), 180004, id="18.4"),
        pytest.param((9, 6, 3), 90603, id="9.6.3"),
        pytest.param((16, None, None), 160000, id="16devel"),
    ],
)
def test_version_number_from_asyncpg_parts(
    parts: tuple[int, int | None, int | None], expected: int
) -> None:
    assert compat.version_number(*parts) == expected


def test_describe() -> None:
    assert [compat.describe(v) for v in (140023, 150000, 180004)] == ["14.23", "15.0", "18.4"]


@pytest.mark.parametrize(
    ("state", "refused"),
    [
        pytest.param(catalog.IndexState(server_version=140023), True, id="no-table-yet"),
        pytest.param(
            catalog.IndexState(table_oid=5, table_kind="r", server_version=140023),
            True,
            id="table",
        ),
        pytest.param(
            catalog.IndexState(table_oid=5, table_kind="p", server_version=140023),
            True,
            id="partitioned",
        ),
        pytest.param(
            catalog.IndexState(table_oid=5, table_kind="r", server_version=150000),
            False,
            id="15",
        ),
    ],
)
def test_plan_refuses_nulls_not_distinct_before_15(
    state: catalog.IndexState, refused: bool
) -> None:
    action = plan.decide(NND, state, None, plan.History())
    if refused:
        assert isinstance(action, plan.Fail) and action.reason == compat.REASON
        assert "needs PostgreSQL 15" in action.message
    else:
        assert not isinstance(action, plan.Fail)


def test_catalog_sql_reads_newer_columns_through_to_jsonb() -> None:
    """indnullsnotdistinct (15+) and last_idx_scan (16+) are read so the text runs on 14 too,
    and the alias replacement reaches the whole-row reference."""
    assert "x.indnullsnotdistinct" not in signature.SIGNATURE
    assert "(to_jsonb(x.*) ->> 'indnullsnotdistinct')" in signature.SIGNATURE
    assert "(to_jsonb(xt.*) ->> 'indnullsnotdistinct')" in signature.signature_of("xt")
    assert "(to_jsonb(s.*) ->> 'last_idx_scan')" in health.HEALTH
    assert "last_idx_scan" not in health.HEALTH.replace("'last_idx_scan'", "")


NOW = datetime.datetime(2026, 12, 3, 12, 0, tzinfo=datetime.UTC)


def _facts(scans: int, last_scan: str | None) -> health.Facts:
    return health.Facts(
        size_bytes=8192 * 100,
        method="btree",
        scans=scans,
        tuples=1000.0,
        fillfactor=90,
        widths=(8,),
        scans_since="2026-01-01T00:00:00Z",
        last_scan=last_scan,
    )


@pytest.mark.parametrize(
    ("previous", "facts", "since", "unused"),
    [
        pytest.param(None, _facts(5, None), "2026-12-03T12:00:00Z", False, id="15-first-look"),
        pytest.param(
            None,
            _facts(5, "2026-10-01T00:00:00Z"),
            "2026-10-01T00:00:00Z",
            True,
            id="16-first-look",
        ),
        pytest.param(
            {
                "scans": 5,
                "scansSince": "2026-01-01T00:00:00Z",
                "checkedAt": "2026-12-03T11:59:00Z",
                "scansUnchangedSince": "2026-12-03T11:00:00Z",
            },
            _facts(6, "2026-12-03T11:59:30Z"),
            "2026-12-03T11:59:30Z",
            False,
            id="16-scanned-since-last-look",
        ),
        pytest.param(
            {
                "scans": 5,
                "scansSince": "2026-01-01T00:00:00Z",
                "checkedAt": "2026-12-03T11:59:00Z",
                "scansUnchangedSince": "2026-12-03T11:00:00Z",
            },
            _facts(6, "2026-12-03T11:59:00Z"),
            "2026-12-03T11:59:00Z",
            False,
            id="16-scanned-in-the-second-of-the-last-look",
        ),
        pytest.param(
            {
                "scans": 5,
                "scansSince": "2026-01-01T00:00:00Z",
                "checkedAt": "2026-12-03T11:59:00Z",
                "scansUnchangedSince": "2026-12-03T11:00:00Z",
            },
            _facts(6, "2026-10-01T00:00:00Z"),
            "2026-12-03T12:00:00Z",
            False,
            id="16-scan-time-not-flushed-yet",
        ),
        pytest.param(
            {
                "scans": 5,
                "scansSince": "2026-01-01T00:00:00Z",
                "checkedAt": "2026-12-03T11:59:00Z",
                "scansUnchangedSince": "2026-12-03T11:00:00Z",
            },
            _facts(5, "2026-10-01T00:00:00Z"),
            "2026-12-03T11:00:00Z",
            True,
            id="16-never-earlier-than-observed",
        ),
    ],
)
def test_last_idx_scan_dates_the_last_scan(
    previous: dict[str, object] | None, facts: health.Facts, since: str, unused: bool
) -> None:
    found = health.status(facts, now=NOW, previous=previous, unused_after=1800)
    assert found["scansUnchangedSince"] == since
    assert found["unused"] is unused


def test_facts_from_row_reads_last_scan() -> None:
    row = {
        "size_bytes": 1,
        "method": "btree",
        "scans": 0,
        "tuples": 1,
        "reloptions": None,
        "widths": "[4]",
        "stats_reset": None,
        "server_start": NOW,
        "last_scan": NOW,
    }
    assert health.facts_from_row(row).last_scan == "2026-12-03T12:00:00Z"
    assert health.facts_from_row({**row, "last_scan": None}).last_scan is None
