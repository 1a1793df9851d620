"""status.render and status.merge_patch: the status subresource as a public API."""

from __future__ import annotations

from typing import Any

import pytest

from dbindex_operator.core import status

T0 = "2024-01-01T00:00:00Z"
T1 = "2024-01-01T00:05:00Z"


def _conditions(
    ready: str, progressing: str, degraded: str, *, reason: str, message: str, generation: int
) -> list[dict[str, Any]]:
    return [
        {
            "type": kind,
            "status": value,
            "reason": reason,
            "message": message,
            "lastTransitionTime": T1,
            "observedGeneration": generation,
        }
        for kind, value in (("Ready", ready), ("Progressing", progressing), ("Degraded", degraded))
    ]


@pytest.mark.parametrize(
    ("phase", "ready", "progressing", "degraded"),
    [
        pytest.param(status.PENDING, "False", "True", "False", id="pending"),
        pytest.param(status.WAITING, "False", "True", "False", id="waiting"),
        pytest.param(status.BUILDING, "False", "True", "False", id="building"),
        pytest.param(status.RETRYING, "False", "True", "False", id="retrying"),
        pytest.param(status.DELETING, "False", "True", "False", id="deleting"),
        pytest.param(status.READY, "True", "False", "False", id="ready"),
        pytest.param(status.FAILED, "False", "False", "True", id="failed"),
    ],
)
def test_render_conditions_per_phase(
    phase: str, ready: str, progressing: str, degraded: str
) -> None:
    report = status.Report(phase=phase, reason="SomeReason", message="some message", attempts=2)

    rendered = status.render(report, generation=3, previous={}, now=T1)

    assert rendered == {
        "observedGeneration": 3,
        "phase": phase,
        "attempts": 2,
        "conditions": _conditions(
            ready, progressing, degraded, reason="SomeReason", message="some message", generation=3
        ),
    }


def _previous(ready: str, progressing: str, degraded: str) -> dict[str, Any]:
    return {
        "conditions": [
            {"type": "Ready", "status": ready, "lastTransitionTime": T0},
            {"type": "Progressing", "status": progressing, "lastTransitionTime": T0},
            {"type": "Degraded", "status": degraded, "lastTransitionTime": T0},
        ]
    }


@pytest.mark.parametrize(
    ("previous", "phase", "expected_times"),
    [
        pytest.param({}, status.BUILDING, [T1, T1, T1], id="no-previous-status"),
        pytest.param({"conditions": None}, status.BUILDING, [T1, T1, T1], id="null-conditions"),
        pytest.param(
            _previous("False", "True", "False"),
            status.BUILDING,
            [T0, T0, T0],
            id="unchanged-keeps-times",
        ),
        pytest.param(
            _previous("False", "True", "False"),
            status.READY,
            [T1, T1, T0],
            id="building-to-ready-moves-two",
        ),
        pytest.param(
            _previous("False", "True", "False"),
            status.FAILED,
            [T0, T1, T1],
            id="building-to-failed-moves-two",
        ),
        pytest.param(
            _previous("True", "False", "False"),
            status.READY,
            [T0, T0, T0],
            id="ready-stays-ready",
        ),
        pytest.param(
            {"conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": T0}]},
            status.WAITING,
            [T0, T1, T1],
            id="missing-conditions-are-new",
        ),
        pytest.param(
            {"conditions": [{"type": "Ready", "status": "False"}]},
            status.WAITING,
            [T1, T1, T1],
            id="unchanged-without-time-gets-now",
        ),
    ],
)
def test_last_transition_time(
    previous: dict[str, Any], phase: str, expected_times: list[str]
) -> None:
    report = status.Report(phase=phase, reason="R", message="m")

    rendered = status.render(report, generation=1, previous=previous, now=T1)

    assert [c["lastTransitionTime"] for c in rendered["conditions"]] == expected_times


def test_reason_and_message_change_without_moving_transition_time() -> None:
    previous = _previous("False", "True", "False")
    report = status.Report(phase=status.WAITING, reason="TableBusy", message="other build")

    rendered = status.render(report, generation=7, previous=previous, now=T1)

    assert rendered["conditions"][1] == {
        "type": "Progressing",
        "status": "True",
        "reason": "TableBusy",
        "message": "other build",
        "lastTransitionTime": T0,
        "observedGeneration": 7,
    }


@pytest.mark.parametrize(
    ("optional", "expected"),
    [
        pytest.param({}, {}, id="none-set"),
        pytest.param({"index": {"name": "i"}}, {"index": {"name": "i"}}, id="index"),
        pytest.param({"progress": {"percent": 5}}, {"progress": {"percent": 5}}, id="progress"),
        pytest.param({"last_error": {"sqlstate": "x"}}, {"lastError": {"sqlstate": "x"}}, id="err"),
        pytest.param({"started_at": T0}, {"startedAt": T0}, id="started-at"),
        pytest.param({"completed_at": T1}, {"completedAt": T1}, id="completed-at"),
        pytest.param({"retry_token": "2"}, {"retryToken": "2"}, id="retry-token"),
        pytest.param({"index": {}}, {"index": {}}, id="empty-mapping-is-set"),
        pytest.param(
            {
                "index": {"name": "i"},
                "progress": {"percent": 5},
                "last_error": {"sqlstate": "x"},
                "started_at": T0,
                "completed_at": T1,
                "retry_token": "2",
            },
            {
                "index": {"name": "i"},
                "progress": {"percent": 5},
                "lastError": {"sqlstate": "x"},
                "startedAt": T0,
                "completedAt": T1,
                "retryToken": "2",
            },
            id="all-set",
        ),
    ],
)
def test_render_optional_fields(optional: dict[str, Any], expected: dict[str, Any]) -> None:
    report = status.Report(phase=status.BUILDING, reason="R", message="m", **optional)

    rendered = status.render(report, generation=1, previous={}, now=T1)

    fixed = {"observedGeneration", "phase", "attempts", "conditions"}
    assert {k: v for k, v in rendered.items() if k not in fixed} == expected


@pytest.mark.parametrize(
    ("new", "old", "expected"),
    [
        pytest.param({"phase": "Ready"}, {"phase": "Ready"}, None, id="equal"),
        pytest.param({}, {}, None, id="both-empty"),
        pytest.param(
            {"phase": "Ready"}, {"phase": "Ready", "progress": None}, None, id="old-null-ignored"
        ),
        pytest.param(
            {"phase": "Ready", "progress": None}, {"phase": "Ready"}, None, id="new-null-ignored"
        ),
        pytest.param(
            {"phase": "Ready"},
            {"phase": "Building"},
            {"phase": "Ready"},
            id="changed-value",
        ),
        pytest.param(
            {"phase": "Ready"},
            {"phase": "Building", "progress": {"percent": 50}},
            {"phase": "Ready", "progress": None},
            id="removed-key-becomes-null",
        ),
        pytest.param(
            {"phase": "Building", "progress": {"percent": 60}},
            {"phase": "Building", "progress": {"percent": 50}},
            {"phase": "Building", "progress": {"percent": 60}},
            id="nested-change-whole-field",
        ),
        pytest.param(
            {"phase": "Ready", "progress": {"percent": 100}},
            {"phase": "Building", "progress": {"percent": 60, "etaSeconds": 9, "x": {"a": 1}}},
            {"phase": "Ready", "progress": {"percent": 100, "etaSeconds": None, "x": None}},
            id="nested-removed-key-becomes-null",
        ),
        pytest.param(
            {"index": {"name": "i", "extra": {"b": 2}}},
            {"index": {"name": "i", "extra": {"a": 1}}},
            {"index": {"name": "i", "extra": {"a": None, "b": 2}}},
            id="nulls-at-every-depth",
        ),
        pytest.param(
            {"phase": "Building", "attempts": 1},
            {"phase": "Building"},
            {"phase": "Building", "attempts": 1},
            id="added-key",
        ),
        pytest.param(
            {"phase": "Ready"},
            {},
            {"phase": "Ready"},
            id="from-nothing",
        ),
    ],
)
def test_merge_patch(
    new: dict[str, Any], old: dict[str, Any], expected: dict[str, Any] | None
) -> None:
    assert status.merge_patch(new, old) == expected


def test_render_then_merge_patch_is_none_when_nothing_changed() -> None:
    report = status.Report(phase=status.BUILDING, reason="Building", message="m", attempts=1)
    first = status.render(report, generation=2, previous={}, now=T0)

    second = status.render(report, generation=2, previous=first, now=T1)

    assert second == first
    assert status.merge_patch(second, first) is None


@pytest.mark.parametrize(
    ("new", "written", "expected"),
    [
        ({"progress": {"blockingPids": [7]}}, {}, True),
        ({"progress": {"blockingPids": [7]}}, {"progress": {"percent": 3}}, True),
        ({"progress": {"blockingPids": [7, 9]}}, {"progress": {"blockingPids": [7]}}, True),
        ({"progress": {"blockingPids": [7]}}, {"progress": {"blockingPids": [7, 9]}}, False),
        ({"progress": {"blockingPids": [7]}}, {"progress": {"blockingPids": [7]}}, False),
        ({"progress": {"percent": 50}}, {"progress": {"blockingPids": [7]}}, False),
        ({"phase": "Ready"}, {}, False),
    ],
)
def test_newly_blocked(new: dict[str, Any], written: dict[str, Any], expected: bool) -> None:
    assert status.newly_blocked(new, written) is expected
