"""core/windows.py and the window gate in plan.decide, with the clock injected."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from dbindex_operator.core import catalog, errors, plan, settings, windows
from tests.unit.builders import index_spec

UTC = datetime.UTC
BERLIN_1AM = {"windows": [{"schedule": "0 1 * * *", "duration": "4h", "timeZone": "Europe/Berlin"}]}


def at(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text).astimezone(UTC)


@pytest.mark.parametrize(
    ("now", "open_", "next_start"),
    [
        pytest.param("2026-06-10T00:59:00+02:00", False, "2026-06-10T01:00:00+02:00", id="before"),
        pytest.param("2026-06-10T01:00:00+02:00", True, "2026-06-11T01:00:00+02:00", id="at-start"),
        pytest.param("2026-06-10T04:59:59+02:00", True, "2026-06-11T01:00:00+02:00", id="inside"),
        pytest.param("2026-06-10T05:00:00+02:00", False, "2026-06-11T01:00:00+02:00", id="closed"),
        pytest.param(
            "2026-06-10T23:30:00+00:00", True, "2026-06-12T01:00:00+02:00", id="other-zone"
        ),
    ],
)
def test_open_and_next_start(now: str, open_: bool, next_start: str) -> None:
    policy = windows.parse(BERLIN_1AM)
    assert policy.is_open(at(now)) is open_
    assert policy.next_start(at(now)) == at(next_start)


def test_spring_forward_start_in_the_gap_opens_at_the_first_valid_minute() -> None:
    """2026-03-29 Europe/Berlin: 02:00 -> 03:00. A 02:30 start opens at 03:00 (cronsim)."""
    policy = windows.parse(
        {"windows": [{"schedule": "30 2 * * *", "duration": "1h", "timeZone": "Europe/Berlin"}]}
    )
    assert policy.next_start(at("2026-03-29T00:00:00+01:00")) == at("2026-03-29T03:00:00+02:00")
    assert policy.is_open(at("2026-03-29T03:30:00+02:00"))
    assert not policy.is_open(at("2026-03-29T04:00:00+02:00"))


def test_fall_back_start_in_the_overlap_opens_once() -> None:
    """2026-10-25 Europe/Berlin: 03:00 -> 02:00. A 02:30 start opens once, at the first 02:30."""
    policy = windows.parse(
        {"windows": [{"schedule": "30 2 * * *", "duration": "30m", "timeZone": "Europe/Berlin"}]}
    )
    first = at("2026-10-25T02:30:00+02:00")
    assert policy.next_start(at("2026-10-25T00:00:00+02:00")) == first
    assert policy.next_start(first) == at("2026-10-26T02:30:00+01:00")
    assert policy.is_open(at("2026-10-25T02:45:00+02:00"))
    assert not policy.is_open(at("2026-10-25T02:45:00+01:00")), "the repeated hour is not a start"


def test_any_of_several_windows() -> None:
    policy = windows.parse(
        {
            "windows": [
                {"schedule": "0 1 * * 1-5", "duration": "2h"},
                {"schedule": "0 12 * * 6,0", "duration": "6h"},
            ]
        }
    )
    assert policy.is_open(at("2026-12-05T13:00:00+00:00"))  # Saturday noon window
    assert not policy.is_open(at("2026-12-07T13:00:00+00:00"))  # Monday afternoon
    assert policy.is_open(at("2026-12-07T02:59:00+00:00"))


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        pytest.param({"windows": []}, "at least one window", id="empty"),
        pytest.param(
            {"windows": [{"schedule": "61 * * * *", "duration": "1h"}]}, "cron", id="cron"
        ),
        pytest.param(
            {"windows": [{"schedule": "0 1 * * *", "duration": "soon"}]}, "duration", id="duration"
        ),
        pytest.param(
            {"windows": [{"schedule": "0 1 * * *", "duration": "0h"}]}, "more than 0", id="zero"
        ),
        pytest.param(
            {"windows": [{"schedule": "0 1 * * *", "duration": "200h"}]}, "7 days", id="long"
        ),
        pytest.param(
            {"windows": [{"schedule": "0 1 * * *", "duration": "1h", "timeZone": "Mars/Base"}]},
            "IANA",
            id="zone",
        ),
        pytest.param({**BERLIN_1AM, "minTableBytes": -1}, "minTableBytes", id="min-bytes"),
        pytest.param(
            {**BERLIN_1AM, "cancelOutsideWindow": "yes"}, "cancelOutsideWindow", id="cancel"
        ),
    ],
)
def test_invalid_windows(raw: dict[str, Any], words: str) -> None:
    with pytest.raises(errors.SpecError, match=words):
        windows.parse(raw)


def test_default_window_from_the_environment() -> None:
    config = settings.Settings.from_env(
        {"DBINDEX_DEFAULT_WINDOW": '{"windows": [{"schedule": "0 1 * * *", "duration": "4h"}]}'}
    )
    assert config.default_window == windows.Policy(
        (windows.Window("0 1 * * *", datetime.timedelta(hours=4)),)
    )
    with pytest.raises(ValueError, match="DBINDEX_DEFAULT_WINDOW"):
        settings.Settings.from_env({"DBINDEX_DEFAULT_WINDOW": "{not json"})


CLOSED = at("2026-06-10T12:00:00+02:00")
OPEN = at("2026-06-10T02:00:00+02:00")
NO_INDEX = catalog.IndexState(table_oid=1, table_kind="r", table_pages=1000)
LEFTOVER = catalog.IndexState(
    table_oid=1, table_kind="r", table_pages=1000, relation_oid=2, relation_kind="i", on_table=True
)
WAITING = plan.Wait(
    "Waiting",
    "OutsideMaintenanceWindow",
    "outside the maintenance window; the next one starts at 2026-06-10T23:00:00Z",
    next_window="2026-06-10T23:00:00Z",
)


@pytest.mark.parametrize(
    ("window", "state", "now", "history", "expected"),
    [
        pytest.param(BERLIN_1AM, NO_INDEX, CLOSED, plan.History(), WAITING, id="build-waits"),
        pytest.param(BERLIN_1AM, NO_INDEX, OPEN, plan.History(), plan.Build(), id="build-inside"),
        pytest.param(BERLIN_1AM, LEFTOVER, CLOSED, plan.History(), WAITING, id="leftover-waits"),
        pytest.param(
            {**BERLIN_1AM, "cancelOutsideWindow": True},
            LEFTOVER,
            CLOSED,
            plan.History(),
            plan.DropLeftover(),
            id="cancelled-leftover-goes-at-once",
        ),
        pytest.param(
            {**BERLIN_1AM, "minTableBytes": 10_000_000},
            NO_INDEX,
            CLOSED,
            plan.History(),
            plan.Build(),
            id="small-table-first-build-exempt",
        ),
        pytest.param(
            {**BERLIN_1AM, "minTableBytes": 10_000_000},
            NO_INDEX,
            CLOSED,
            plan.History(managed=True),
            WAITING,
            id="a-rebuild-is-no-first-build",
        ),
        pytest.param(
            {**BERLIN_1AM, "minTableBytes": 1000},
            NO_INDEX,
            CLOSED,
            plan.History(),
            WAITING,
            id="big-table-not-exempt",
        ),
    ],
)
def test_the_plan_waits_for_the_window(
    window: dict[str, Any],
    state: catalog.IndexState,
    now: datetime.datetime,
    history: plan.History,
    expected: plan.Action,
) -> None:
    spec = index_spec()
    desired = None
    action = plan.decide(spec, state, desired, history, now=now, window=windows.parse(window))
    assert action == expected


def test_reading_the_definition_needs_no_window() -> None:
    state = catalog.IndexState(
        table_oid=1, table_kind="r", relation_oid=2, relation_kind="i", on_table=True, valid=True
    )
    action = plan.decide(
        index_spec(), state, None, plan.History(), now=CLOSED, window=windows.parse(BERLIN_1AM)
    )
    assert action == plan.Probe()
