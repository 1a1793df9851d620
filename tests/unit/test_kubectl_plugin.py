"""tools/kubectl_plugin: the pure rendering of `kubectl dbindex status` and `describe`, and the
command line (no kubectl here: the e2e test runs the real plugin through kubectl)."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest

from dbindex_operator.tools import kubectl_plugin
from dbindex_operator.tools.kubectl_plugin import args, describing, rendering

NOW = datetime.datetime(2026, 12, 3, 12, 0, 0, tzinfo=datetime.UTC)


def obj(
    status: dict[str, Any] | None = None, spec: dict[str, Any] | None = None, name: str = "idx-a"
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": "app",
            "generation": 1,
            "creationTimestamp": "2026-12-03T11:58:00Z",
        },
        "spec": spec
        or {
            "connection": {"secretRef": {"name": "db"}},
            "table": "t",
            "columns": [{"column": "a"}],
        },
        "status": status or {},
    }


BUILDING = {
    "phase": "Building",
    "attempts": 2,
    "progress": {
        "phase": "waiting for writers before validation",
        "percent": 61,
        "blockingPids": [4242, 4243],
        "etaSeconds": 95,
        "updatedAt": "2026-12-03T11:59:55.000Z",
    },
}


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        pytest.param({}, ("Pending", 0, None, None, ()), id="no-status"),
        pytest.param(
            BUILDING,
            ("Building", 61, "waiting for writers before validation", 90, (4242, 4243)),
            id="building-eta-aged-by-updatedAt",
        ),
        pytest.param(
            {"phase": "Ready", "progress": {"percent": 100, "etaSeconds": 3}},
            ("Ready", 100, None, None, ()),
            id="ready-no-eta",
        ),
        pytest.param(
            {"phase": "Ready", "progress": {"percent": 40}},
            ("Ready", 100, None, None, ()),
            id="ready-is-100",
        ),
        pytest.param(
            {
                "phase": "Building",
                "progress": {"percent": 5, "etaSeconds": 2, "updatedAt": "2026-12-03T11:50:00Z"},
            },
            ("Building", 5, None, 0, ()),
            id="stale-eta-floors-at-0",
        ),
        pytest.param(
            {"phase": "Failed", "progress": {"percent": 47, "phase": "x", "blockingPids": [1]}},
            ("Failed", 47, None, None, ()),
            id="failed-keeps-percent-drops-live-fields",
        ),
    ],
)
def test_row(status: dict[str, Any], expected: tuple[Any, ...]) -> None:
    line = rendering.row(obj(status), NOW)
    assert (line.phase, line.percent, line.pg_phase, line.eta_seconds, line.blocking_pids) == (
        expected
    )
    assert line.age_seconds == 120


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "-"),
        (0, "0s"),
        (59, "59s"),
        (60, "1m"),
        (125, "2m5s"),
        (3600, "1h"),
        (7380, "2h3m"),
        (86400 * 3 + 3600 * 4, "3d4h"),
    ],
)
def test_duration(seconds: int | None, text: str) -> None:
    assert rendering.duration(seconds) == text


@pytest.mark.parametrize(
    ("percent", "filled"), [(0, 0), (50, 10), (100, 20), (150, 20), (-3, 0), (99, 19)]
)
def test_bar(percent: int, filled: int) -> None:
    assert rendering.bar(percent) == "[" + "#" * filled + "." * (20 - filled) + "]"


def test_plain_table_lines_up_like_kubectl_get() -> None:
    rows = [
        rendering.row(obj(BUILDING), NOW),
        rendering.row(
            obj(
                {"phase": "Ready", "progress": {"partitionsDone": 3, "partitionsTotal": 3}},
                name="b",
            ),
            NOW,
        ),
    ]
    text = rendering.plain_table(rows, all_namespaces=True)
    header, first, second = text.splitlines()
    assert header.split() == [
        "NAMESPACE", "NAME", "PHASE", "PROGRESS", "POSTGRES", "PHASE", "PARTITIONS", "BLOCKED",
        "BY", "ATTEMPTS", "AGE", "ETA",
    ]  # fmt: skip
    assert first.split()[:4] == ["app", "idx-a", "Building", "[############........]"]
    assert "61%" in first and "4242,4243" in first and first.endswith("1m30s")
    assert "3/3" in second and "100%" in second
    assert header.index("PHASE") == first.index("Building")


def test_json_document_is_one_line_of_items() -> None:
    text = rendering.json_document([rendering.row(obj(BUILDING), NOW)])
    assert text.count("\n") == 1
    [item] = json.loads(text)["items"]
    assert item["percent"] == 61 and item["etaSeconds"] == 90
    assert item["postgresPhase"] == "waiting for writers before validation"


@pytest.mark.parametrize(
    ("phases", "expected"),
    [
        (["Ready", "Ready"], 0),
        (["Ready", "Failed"], 1),
        (["Ready", "Building"], None),
        (["Failed", "Retrying"], None),
        ([], 0),
    ],
)
def test_watch_verdict(phases: list[str], expected: int | None) -> None:
    rows = [rendering.row(obj({"phase": p, "observedGeneration": 1}), NOW) for p in phases]
    assert rendering.verdict(rows) == expected


@pytest.mark.parametrize(
    ("status", "annotations", "done"),
    [
        pytest.param({"phase": "Failed", "observedGeneration": 1}, {}, True, id="failed"),
        pytest.param({"phase": "Failed", "observedGeneration": 0}, {}, False, id="old-spec"),
        pytest.param(
            {"phase": "Failed", "observedGeneration": 1, "retryToken": "a"},
            {"dbindex.dev/retry": "b"},
            False,
            id="retry-not-yet-seen",
        ),
        pytest.param(
            {"phase": "Failed", "observedGeneration": 1, "retryToken": "b"},
            {"dbindex.dev/retry": "b"},
            True,
            id="retry-seen-and-failed-again",
        ),
    ],
)
def test_done_waits_for_the_operator_to_answer(
    status: dict[str, Any], annotations: dict[str, str], done: bool
) -> None:
    body = obj(status)
    body["metadata"]["annotations"] = annotations
    assert rendering.row(body, NOW).done is done


@pytest.mark.parametrize(
    ("sqlstate", "contains"),
    [
        ("23505", "duplicates"),
        ("57014", "statement_timeout"),
        ("22012", "data exception"),
        ("08006", "connection exception"),
        ("XX000", "class XX; not retried"),
        (None, "connection was lost"),
    ],
)
def test_sqlstate_meaning(sqlstate: str | None, contains: str) -> None:
    assert contains in describing.sqlstate_meaning(sqlstate)


def test_describe_shows_the_operators_own_sql_and_the_error() -> None:
    failed = {
        "phase": "Failed",
        "attempts": 1,
        "observedGeneration": 1,
        "lastError": {"sqlstate": "23505", "message": "could not create unique index", "time": "t"},
        "conditions": [
            {
                "type": "Ready",
                "status": "False",
                "reason": "UniqueViolation",
                "message": "duplicate key",
                "lastTransitionTime": "2026-12-03T11:59:00Z",
            }
        ],
    }
    spec = {
        "connection": {"secretRef": {"name": "db"}},
        "table": "users",
        "unique": True,
        "columns": [{"column": "email"}],
        "where": "deleted_at IS NULL",
        "build": {"lockTimeout": "30s"},
    }
    events = [
        {"type": "Warning", "reason": "UniqueViolation", "message": "second-event",
         "lastTimestamp": "2026-12-03T11:59:30Z"},
        {"type": "Normal", "reason": "BuildStarted", "message": "go",
         "lastTimestamp": "2026-12-03T11:59:00Z"},
    ]  # fmt: skip
    text = describing.describe(obj(failed, spec), events, NOW)
    assert "Phase:       Failed (UniqueViolation)" in text
    assert "SQLSTATE 23505" in text and "Remove the duplicates" in text
    assert text.index("BuildStarted") < text.index("second-event")  # oldest first, like kubectl
    assert (
        "  CREATE UNIQUE INDEX CONCURRENTLY idx_a ON public.users USING btree (email) "
        "WHERE (deleted_at IS NULL);"
    ) in text
    assert "  SET lock_timeout = '30s';" in text
    assert "SQL the operator ran" in text


def test_describe_paused_shows_status_plan() -> None:
    paused = {"phase": "Paused", "plan": {"action": "Build", "statements": ["CREATE INDEX x"]}}
    heading, lines = describing.statements(obj(paused))
    assert "when unpaused (Build)" in heading and lines == ["CREATE INDEX x;"]


def test_describe_invalid_spec() -> None:
    heading, lines = describing.statements(obj(spec={"table": "t", "columns": []}))
    assert "invalid" in heading and lines[0].startswith("-- ")


def test_import_and_plan_are_delegated_whole() -> None:
    seen: list[list[str]] = []

    def delegate(argv: Any) -> int:
        seen.append(list(argv))
        return 7

    assert kubectl_plugin.main(["plan", "-f", "x.yaml", "--dsn", "d"], delegate) == 7
    assert kubectl_plugin.main(["import", "--help"], delegate) == 7
    assert seen == [["plan", "-f", "x.yaml", "--dsn", "d"], ["import", "--help"]]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["status"], {"command": "status", "watch": False, "output": "table"}),
        (["status", "-A", "-w", "-o", "json"], {"all_namespaces": True, "watch": True}),
        (["status", "-n", "app", "-l", "team=a"], {"namespace": "app", "selector": "team=a"}),
        (["retry", "idx", "-n", "app"], {"command": "retry", "name": "idx"}),
        (["describe", "idx", "--context", "prod"], {"context": "prod", "name": "idx"}),
    ],
)
def test_arguments(argv: list[str], expected: dict[str, Any]) -> None:
    parsed = vars(args.parser().parse_args(argv))
    assert {key: parsed[key] for key in expected} == expected


def test_rich_table_on_a_terminal() -> None:
    from rich.console import Console

    from dbindex_operator.tools.kubectl_plugin import terminal

    failed = {"phase": "Failed", "conditions": [{"type": "Ready", "reason": "BuildFailed",
                                                  "message": "duplicates"}]}  # fmt: skip
    rows = [rendering.row(obj(BUILDING), NOW), rendering.row(obj(failed, name="b"), NOW)]
    console = Console(record=True, width=200, force_terminal=True, color_system=None)
    console.print(terminal.table(rows, all_namespaces=True))
    text = console.export_text()
    assert "NAMESPACE" in text and "idx-a" in text and " 61%" in text and "1m30s" in text
    assert "b: BuildFailed: duplicates" in text
    empty = Console(record=True, width=80)
    empty.print(terminal.table([], all_namespaces=False))
    assert "No DatabaseIndex objects found." in empty.export_text()
