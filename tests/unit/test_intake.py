"""core/intake.py: what a raw watch event asks for, and the guarded finalizer patches."""

from __future__ import annotations

from typing import Any

import pytest

from dbindex_operator.core import intake, settings

OURS = settings.FINALIZER


def meta(finalizers: tuple[str, ...] = (), deleting: bool = False) -> dict[str, Any]:
    found: dict[str, Any] = {"name": "x", "namespace": "ns", "resourceVersion": "7"}
    if finalizers:
        found["finalizers"] = list(finalizers)
    if deleting:
        found["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return found


RETAIN = {"deletionPolicy": "Retain"}
DELETE = {"deletionPolicy": "Delete"}


@pytest.mark.parametrize(
    ("event_type", "finalizers", "deleting", "spec", "expected"),
    [
        # Retain: our finalizer waits for the first DDL (runtime/holding.py); an index that is
        # only adopted never gets one.
        pytest.param(None, (), False, RETAIN, intake.Intent(track=True), id="listed-new-retain"),
        pytest.param(
            None, (), False, DELETE, intake.Intent(track=True, add_finalizer=True), id="listed-new"
        ),
        pytest.param(None, (OURS,), False, DELETE, intake.Intent(track=True), id="listed-known"),
        pytest.param(
            "ADDED", (), False, DELETE, intake.Intent(track=True, add_finalizer=True), id="added"
        ),
        pytest.param("ADDED", (), False, RETAIN, intake.Intent(track=True), id="added-retain"),
        pytest.param("ADDED", (), False, None, intake.Intent(track=True), id="added-no-spec"),
        pytest.param("MODIFIED", (OURS,), False, DELETE, intake.Intent(track=True), id="modified"),
        pytest.param(
            "MODIFIED",
            (),
            False,
            DELETE,
            intake.Intent(track=True, add_finalizer=True),
            id="policy-changed-to-delete",
        ),
        pytest.param(
            "MODIFIED",
            ("x/y",),
            False,
            DELETE,
            intake.Intent(track=True, add_finalizer=True),
            id="others-finalizer-only",
        ),
        pytest.param(
            "MODIFIED", (OURS,), True, RETAIN, intake.Intent(delete=True), id="deleting-ours"
        ),
        pytest.param(
            "MODIFIED", ("x/y",), True, DELETE, intake.Intent(forget=True), id="deleting-not-ours"
        ),
        pytest.param(
            "MODIFIED", (), True, RETAIN, intake.Intent(forget=True), id="deleting-adopted-retain"
        ),
        pytest.param("DELETED", (OURS,), False, DELETE, intake.Intent(forget=True), id="deleted"),
    ],
)
def test_decide(
    event_type: str | None,
    finalizers: tuple[str, ...],
    deleting: bool,
    spec: dict[str, Any] | None,
    expected: intake.Intent,
) -> None:
    assert intake.decide(event_type, meta(finalizers, deleting), spec) == expected


def test_add_finalizer_without_any_is_guarded_by_the_resource_version() -> None:
    assert intake.add_finalizer(meta()) == [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "7"},
        {"op": "add", "path": "/metadata/finalizers", "value": [OURS]},
    ]


def test_add_finalizer_beside_others_is_guarded_by_the_whole_list() -> None:
    assert intake.add_finalizer(meta(("a/b",))) == [
        {"op": "test", "path": "/metadata/finalizers", "value": ["a/b"]},
        {"op": "add", "path": "/metadata/finalizers/-", "value": OURS},
    ]


@pytest.mark.parametrize(
    ("finalizers", "expected"),
    [
        pytest.param((), None, id="none"),
        pytest.param(("a/b",), None, id="not-ours"),
        pytest.param(
            (OURS,),
            [
                {"op": "test", "path": "/metadata/finalizers/0", "value": OURS},
                {"op": "remove", "path": "/metadata/finalizers/0"},
            ],
            id="only-ours",
        ),
        pytest.param(
            ("a/b", OURS),
            [
                {"op": "test", "path": "/metadata/finalizers/1", "value": OURS},
                {"op": "remove", "path": "/metadata/finalizers/1"},
            ],
            id="second",
        ),
    ],
)
def test_remove_finalizer(finalizers: tuple[str, ...], expected: intake.JsonPatch | None) -> None:
    assert intake.remove_finalizer(meta(finalizers)) == expected
