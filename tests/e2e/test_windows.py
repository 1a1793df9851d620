"""Maintenance windows end to end: waiting with nextWindowStart, a window that opens during the
test starts the build, and cancelOutsideWindow cancels a running build and cleans up."""

from __future__ import annotations

import datetime
import time

from tests.e2e.conftest import (
    SLOW_BUILD,
    Kube,
    Target,
    connection,
    index_facts,
    invalid_indexes,
    is_ready,
    sql,
)

UTC = datetime.UTC


def _minute_cron(moment: datetime.datetime) -> str:
    return f"{moment.minute} {moment.hour} * * *"


def _waiting(status: dict[str, object]) -> bool:
    return status.get("phase") == "Waiting" and bool(status.get("nextWindowStart"))


def test_outside_the_window_it_waits_with_the_next_start(db: Target, kube: Kube) -> None:
    sql(db.dsn, "CREATE TABLE t (id int)")
    window = {"windows": [{"schedule": "0 0 1 1 *", "duration": "1h", "timeZone": "UTC"}]}
    kube.create(
        db.namespace,
        "t-id",
        {"connection": connection(), "table": "t", "columns": [{"column": "id"}], "window": window},
    )
    status = kube.wait(db.namespace, "t-id", _waiting, timeout=30, what="waiting for a window")
    next_year = datetime.datetime.now(UTC).year + 1
    assert status["nextWindowStart"] == f"{next_year}-01-01T00:00:00Z"
    assert kube.condition(db.namespace, "t-id", "Ready")["reason"] == "OutsideMaintenanceWindow"
    time.sleep(4)  # a resync later: nothing built
    assert index_facts(db.dsn, "t_id") is None


def test_a_window_that_opens_starts_the_build(db: Target, kube: Kube) -> None:
    sql(db.dsn, "CREATE TABLE t (id int)")
    # The window opens at the next minute: leave at least 20 s before it, so the object is seen
    # Waiting first (a CI run created it at :58 and the window opened before the first poll).
    while datetime.datetime.now(UTC).second > 40:
        time.sleep(1)
    opens = (datetime.datetime.now(UTC) + datetime.timedelta(minutes=1)).replace(
        second=0, microsecond=0
    )
    window = {"windows": [{"schedule": _minute_cron(opens), "duration": "10m"}]}
    kube.create(
        db.namespace,
        "t-id",
        {"connection": connection(), "table": "t", "columns": [{"column": "id"}], "window": window},
    )
    status = kube.wait(db.namespace, "t-id", _waiting, timeout=30, what="waiting for a window")
    assert status["nextWindowStart"] == opens.strftime("%Y-%m-%dT%H:%M:%SZ")
    kube.wait(db.namespace, "t-id", is_ready, timeout=120)
    assert datetime.datetime.now(UTC) >= opens
    assert index_facts(db.dsn, "t_id") is not None


# An index key that sleeps 1 s on every 200,000th row: a build on `big` lasts at least 15 s
# whatever the machine's speed, so the 6-s window below always closes on a running build (with
# md5 alone a quiet CI machine finished the build as the window closed, and nothing was cancelled).
SLOW_KEY = """
CREATE FUNCTION slow_key(id bigint, k text) RETURNS text IMMUTABLE LANGUAGE plpgsql AS $$
BEGIN
    IF id % 200000 = 0 THEN PERFORM pg_sleep(1); END IF;
    RETURN md5(k || id::text);
END $$
"""


def test_cancel_outside_window_cancels_and_cleans_up(big_db: Target, kube: Kube) -> None:
    sql(big_db.dsn, SLOW_KEY)
    while datetime.datetime.now(UTC).second > 30:  # room in this minute for the window
        time.sleep(1)
    now = datetime.datetime.now(UTC)
    opened = now.replace(second=0, microsecond=0)
    closes_in = int((now - opened).total_seconds()) + 6  # open now, closed in about 6 s
    window = {
        "windows": [{"schedule": _minute_cron(opened), "duration": f"{closes_in}s"}],
        "cancelOutsideWindow": True,
    }
    kube.create(
        big_db.namespace,
        "big-k",
        {
            "connection": connection(),
            "table": "big",
            "columns": [{"expression": "slow_key(id, k)"}],
            "build": SLOW_BUILD,
            "window": window,
        },
    )
    kube.wait(big_db.namespace, "big-k", lambda s: s.get("phase") == "Building", timeout=15)
    status = kube.wait(big_db.namespace, "big-k", _waiting, timeout=60, what="cancelled")
    assert "CancelledOutsideWindow" in kube.event_reasons(big_db.namespace, "big-k")
    assert status["nextWindowStart"] > opened.strftime("%Y-%m-%dT%H:%M:%SZ")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and invalid_indexes(big_db.dsn):
        time.sleep(0.5)
    assert invalid_indexes(big_db.dsn) == []
    assert index_facts(big_db.dsn, "big_k") is None
    rows = sql(
        big_db.dsn,
        "SELECT count(*) AS n FROM pg_stat_progress_create_index "
        "WHERE datname = current_database()",
    )
    assert rows[0]["n"] == 0
