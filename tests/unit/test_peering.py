"""core/peering.py and the `run` command's peering/sharding options (parsed, never started)."""

from __future__ import annotations

import argparse
import dataclasses
import datetime

import pytest

from dbindex_operator.cli import run as run_command
from dbindex_operator.core import peering

T = 1_796_000_000.0  # a Unix time in 2026


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param((T, 0), (T + 1, 999), id="older-leads-whatever-the-tiebreak"),
        pytest.param((T, 5), (T + 3600 * 24 * 365, 5), id="a-year-older"),
        pytest.param((T, 7), (T, 6), id="same-second-tiebreak"),
        pytest.param((T + 0.9, 1), (T, 0), id="same-second-fraction-ignored"),
    ],
)
def test_auto_priority_older_replica_is_higher(
    first: tuple[float, int], second: tuple[float, int]
) -> None:
    assert peering.auto_priority(*first) > peering.auto_priority(*second)


def test_auto_priority_is_positive_for_centuries() -> None:
    assert peering.auto_priority(T + 3600 * 24 * 365 * 200, 0) > 0


@pytest.mark.parametrize("tiebreak", [-1, peering.TIEBREAK_RANGE])
def test_auto_priority_tiebreak_range(tiebreak: int) -> None:
    with pytest.raises(ValueError, match="tiebreak"):
        peering.auto_priority(T, tiebreak)


@pytest.mark.parametrize(
    ("seconds", "ok"),
    [
        pytest.param(10, False, id="refresh-could-come-too-late"),
        pytest.param(11, True, id="minimum"),
        pytest.param(60, True, id="kopf-default"),
    ],
)
def test_lifetime(seconds: int, ok: bool) -> None:
    if ok:
        assert peering.check_lifetime(seconds) == seconds
    else:
        with pytest.raises(ValueError, match="at least"):
            peering.check_lifetime(seconds)


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        pytest.param("dbindex.dev/shard=a", "dbindex.dev/shard=a", id="equality"),
        pytest.param(" shard in (a,b) ", "shard in (a,b)", id="set-based-trimmed"),
        pytest.param("team=x,!legacy", "team=x,!legacy", id="several"),
        pytest.param("", None, id="empty"),
        pytest.param("   ", None, id="blank"),
    ],
)
def test_selector(selector: str, expected: str | None) -> None:
    if expected is None:
        with pytest.raises(ValueError, match="every object"):
            peering.check_selector(selector)
    else:
        assert peering.check_selector(selector) == expected


def _options(*argv: str) -> peering.Options:
    parser = argparse.ArgumentParser()
    run_command.add_replicas(parser)
    return run_command.options(parser.parse_args(argv), parser)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        pytest.param((), peering.Options(priority=-1), id="standalone-by-default"),
        pytest.param(
            ("--peering", "dbindex-a", "--priority", "7", "--peering-lifetime", "15"),
            peering.Options(peering="dbindex-a", priority=7, lifetime=15),
            id="peering",
        ),
        pytest.param(
            ("--standalone", "--priority", "0", "--selector", "dbindex.dev/shard=b"),
            peering.Options(priority=0, selector="dbindex.dev/shard=b"),
            id="standalone-shard",
        ),
    ],
)
def test_run_options(argv: tuple[str, ...], expected: peering.Options) -> None:
    options = _options(*argv)
    assert options.identity  # for Kopf and for the lease check: never empty
    if expected.priority == -1:  # auto: only its order is defined
        assert options.peering is None and options.priority > 0
    else:
        assert dataclasses.replace(options, identity="") == expected


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(("--peering", "x", "--standalone"), id="peering-and-standalone"),
        pytest.param(("--peering-lifetime", "5"), id="lifetime-too-short"),
        pytest.param(("--selector", ""), id="empty-selector"),
        pytest.param(("--priority", "high"), id="priority-not-a-number"),
    ],
)
def test_run_options_rejected(argv: tuple[str, ...]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _options(*argv)
    assert exit_info.value.code == 2


NOW = datetime.datetime(2026, 12, 3, 12, 0, 0, tzinfo=datetime.UTC)


def _peer(priority: int, seen_ago: float, lifetime: int = 20) -> dict[str, object]:
    seen = NOW - datetime.timedelta(seconds=seen_ago)
    return {"priority": priority, "lifetime": lifetime, "lastseen": seen.isoformat()}


@pytest.mark.parametrize(
    ("peers", "leading"),
    [
        pytest.param({}, True, id="alone"),
        pytest.param({"me": _peer(5, 1)}, True, id="only-own-record"),
        pytest.param({"me": _peer(5, 1), "other": _peer(3, 1)}, True, id="other-lower"),
        pytest.param({"me": _peer(5, 1), "other": _peer(7, 1)}, False, id="other-higher"),
        pytest.param({"me": _peer(5, 1), "other": _peer(5, 1)}, False, id="equal-pauses-both"),
        pytest.param({"other": _peer(7, 25)}, True, id="higher-but-expired"),
        pytest.param({"other": _peer(7, 19)}, False, id="higher-just-alive"),
        pytest.param({"other": _peer(7, 50, lifetime=60)}, False, id="its-own-lifetime"),
        pytest.param({"other": {"priority": 9}}, True, id="no-lastseen-ignored"),
        pytest.param({"other": None}, True, id="withdrawn"),
    ],
)
def test_not_leading(peers: dict[str, object], leading: bool) -> None:
    problem = peering.not_leading(peers, "me", 5, NOW)
    assert (problem is None) is leading
    if not leading:
        assert problem is not None and "other" in problem
