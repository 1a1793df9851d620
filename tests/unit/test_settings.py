"""settings.Settings.from_env: defaults, every variable, and rejections."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from dbindex_operator.core import settings

DEFAULTS = settings.Settings(
    build_concurrency=2,
    progress_interval=2.0,
    resync_interval=60.0,
    status_min_interval=1.0,
    deletion_timeout=300.0,
    connection_backoff=(2.0, 5.0, 10.0, 30.0, 60.0),
    connect_timeout=10.0,
    check_interval="2s",
    metrics_address="0.0.0.0",
    metrics_port=9090,
    application_name="dbindex-operator",
)


def test_defaults_from_empty_env() -> None:
    assert settings.Settings.from_env({}) == DEFAULTS


def test_unrelated_variables_are_ignored() -> None:
    assert settings.Settings.from_env({"HOME": "/root", "DBINDEX_OTHER": "x"}) == DEFAULTS


@pytest.mark.parametrize(
    ("env", "changes"),
    [
        pytest.param(
            {"DBINDEX_BUILD_CONCURRENCY": "4"}, {"build_concurrency": 4}, id="concurrency"
        ),
        pytest.param(
            {"DBINDEX_PROGRESS_INTERVAL": "0.5"}, {"progress_interval": 0.5}, id="progress"
        ),
        pytest.param({"DBINDEX_RESYNC_INTERVAL": "120"}, {"resync_interval": 120.0}, id="resync"),
        pytest.param(
            {"DBINDEX_STATUS_MIN_INTERVAL": "0"}, {"status_min_interval": 0.0}, id="status-zero"
        ),
        pytest.param(
            {"DBINDEX_DELETION_TIMEOUT": "30"}, {"deletion_timeout": 30.0}, id="deletion-timeout"
        ),
        pytest.param(
            {"DBINDEX_CONNECTION_BACKOFF": "1,2.5,7"},
            {"connection_backoff": (1.0, 2.5, 7.0)},
            id="backoff",
        ),
        pytest.param(
            {"DBINDEX_CONNECTION_BACKOFF": " 1, 3 "},
            {"connection_backoff": (1.0, 3.0)},
            id="backoff-spaces",
        ),
        pytest.param(
            {"DBINDEX_CONNECTION_BACKOFF": "5"}, {"connection_backoff": (5.0,)}, id="backoff-one"
        ),
        pytest.param({"DBINDEX_CONNECTION_BACKOFF": ""}, {}, id="backoff-empty-default"),
        pytest.param(
            {"DBINDEX_CONNECT_TIMEOUT": "3"}, {"connect_timeout": 3.0}, id="connect-timeout"
        ),
        pytest.param(
            {"DBINDEX_CLIENT_CHECK_INTERVAL": "500ms"},
            {"check_interval": "500ms"},
            id="check-interval",
        ),
        pytest.param(
            {"DBINDEX_METRICS_ADDRESS": "127.0.0.1"},
            {"metrics_address": "127.0.0.1"},
            id="metrics-address",
        ),
        pytest.param({"DBINDEX_METRICS_PORT": "0"}, {"metrics_port": 0}, id="metrics-off"),
        pytest.param({"DBINDEX_METRICS_PORT": "8080"}, {"metrics_port": 8080}, id="metrics-port"),
        pytest.param(
            {"DBINDEX_APPLICATION_NAME": "idx-op"},
            {"application_name": "idx-op"},
            id="application-name",
        ),
        pytest.param(
            {"DBINDEX_CATALOG_LOCK_TIMEOUT": "1s"},
            {"catalog_lock_timeout": "1s"},
            id="catalog-lock-timeout",
        ),
        pytest.param(
            {"DBINDEX_CATALOG_STATEMENT_TIMEOUT": "5min"},
            {"catalog_statement_timeout": "5min"},
            id="catalog-statement-timeout",
        ),
        pytest.param({"DBINDEX_DELETION_WAIT": "0.5"}, {"deletion_wait": 0.5}, id="deletion-wait"),
        pytest.param({"DBINDEX_RESYNC_INTERVAL": ""}, {}, id="empty-number-default"),
    ],
)
def test_each_variable(env: dict[str, str], changes: dict[str, Any]) -> None:
    assert settings.Settings.from_env(env) == dataclasses.replace(DEFAULTS, **changes)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        pytest.param(
            {"DBINDEX_PROGRESS_INTERVAL": "-1"},
            "DBINDEX_PROGRESS_INTERVAL must not be negative, got '-1'",
            id="negative",
        ),
        pytest.param(
            {"DBINDEX_RESYNC_INTERVAL": "soon"},
            "DBINDEX_RESYNC_INTERVAL must be a number, got 'soon'",
            id="not-a-number",
        ),
        pytest.param(
            {"DBINDEX_CONNECT_TIMEOUT": "10s"},
            "DBINDEX_CONNECT_TIMEOUT must be a number, got '10s'",
            id="number-with-unit",
        ),
        pytest.param(
            {"DBINDEX_METRICS_PORT": "http"},
            "DBINDEX_METRICS_PORT must be a number, got 'http'",
            id="port-not-a-number",
        ),
        pytest.param(
            {"DBINDEX_DELETION_TIMEOUT": "-0.5"},
            "DBINDEX_DELETION_TIMEOUT must not be negative, got '-0.5'",
            id="negative-fraction",
        ),
        pytest.param(
            {"DBINDEX_BUILD_CONCURRENCY": "0"},
            "DBINDEX_BUILD_CONCURRENCY must be at least 1",
            id="concurrency-zero",
        ),
        pytest.param(
            {"DBINDEX_BUILD_CONCURRENCY": "-2"},
            "DBINDEX_BUILD_CONCURRENCY must not be negative, got '-2'",
            id="concurrency-negative",
        ),
        pytest.param(
            {"DBINDEX_BUILD_CONCURRENCY": "two"},
            "DBINDEX_BUILD_CONCURRENCY must be a number, got 'two'",
            id="concurrency-word",
        ),
        pytest.param(
            {"DBINDEX_CONNECTION_BACKOFF": "1,x,3"},
            "DBINDEX_CONNECTION_BACKOFF must be numbers, got '1,x,3'",
            id="backoff-word",
        ),
        pytest.param(
            {"DBINDEX_CONNECTION_BACKOFF": "1,,3"},
            "DBINDEX_CONNECTION_BACKOFF must be numbers, got '1,,3'",
            id="backoff-empty-item",
        ),
        pytest.param(
            {"DBINDEX_CONNECTION_BACKOFF": "1;2"},
            "DBINDEX_CONNECTION_BACKOFF must be numbers, got '1;2'",
            id="backoff-wrong-separator",
        ),
    ],
)
def test_rejected(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError) as info:
        settings.Settings.from_env(env)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("name", "value"),
    [
        pytest.param("DBINDEX_STATUS_MIN_INTERVAL", "nan", id="nan-interval"),
        pytest.param("DBINDEX_PROGRESS_INTERVAL", "NaN", id="nan-progress"),
        pytest.param("DBINDEX_CONNECTION_BACKOFF", "5,-1", id="negative-backoff"),
        pytest.param("DBINDEX_CONNECTION_BACKOFF", "-2", id="negative-only-backoff"),
        pytest.param("DBINDEX_CONNECTION_BACKOFF", "1,nan", id="nan-backoff"),
    ],
)
def test_rejected_unsound_numbers(name: str, value: str) -> None:
    """Values that parse as floats but are no delay: NaN slips past `value < 0`, and the backoff
    list skips the negative check every other number gets. The message must name the variable."""
    with pytest.raises(ValueError, match=f"^{name} "):
        settings.Settings.from_env({name: value})


def test_from_env_reads_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBINDEX_BUILD_CONCURRENCY", "3")
    assert settings.Settings.from_env().build_concurrency == 3


def test_names_live_under_the_api_group() -> None:
    assert (settings.FINALIZER, settings.RETRY_ANNOTATION) == (
        "dbindex.dev/finalizer",
        "dbindex.dev/retry",
    )
