"""runtime/holding.py driven with a fake API client: when our finalizer is added, how a patch
that failed (or was applied although the reply was lost) is checked, and when work must not
start because the object is going."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from typing import Any

import pytest

from dbindex_operator.core import errors, settings
from dbindex_operator.runtime import holding, kube

OURS = settings.FINALIZER


def _object(
    finalizers: tuple[str, ...] = (), deleting: bool = False, uid: str = "u1"
) -> dict[str, Any]:
    meta: dict[str, Any] = {"namespace": "ns", "name": "x", "uid": uid, "resourceVersion": "7"}
    if finalizers:
        meta["finalizers"] = list(finalizers)
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta}


class FakeClient:
    """The API server's copy of one object; `patch_fails` raises on the next patches, after
    applying them when `applied` (a reply lost after the write landed)."""

    def __init__(self, found: dict[str, Any] | None) -> None:
        self.found = found
        self.calls: list[str] = []
        self.patches: list[list[dict[str, Any]]] = []
        self.patch_fails: list[Exception] = []
        self.applied = False

    async def read_object(self, namespace: str, name: str) -> dict[str, Any] | None:
        self.calls.append("GET")
        return copy.deepcopy(self.found)

    async def patch_object(
        self, namespace: str, name: str, patch: list[dict[str, Any]]
    ) -> dict[str, Any] | None:
        self.calls.append("PATCH")
        self.patches.append(patch)
        if self.found is None:
            return None
        if self.patch_fails:
            failure = self.patch_fails.pop(0)
            if self.applied:
                self._apply()
            raise failure
        self._apply()
        return copy.deepcopy(self.found)

    def _apply(self) -> None:
        assert self.found is not None
        self.found["metadata"].setdefault("finalizers", []).append(OURS)


@pytest.fixture(autouse=True)
def _no_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(holding, "RETRY", 0.0)


def _holder(client: FakeClient) -> holding.Holder:
    return holding.Holder(client)  # type: ignore[arg-type]


def _run(work: Callable[[], Any]) -> Any:
    return asyncio.run(work())


def test_an_object_seen_with_our_finalizer_is_held_without_a_request() -> None:
    client = FakeClient(_object())
    holder = _holder(client)
    holder.observe(_object((OURS,))["metadata"])
    assert _run(lambda: holder.hold_object("ns", "x", "u1")) is True
    assert client.calls == []


def test_first_ddl_adds_it_once_guarded_by_the_resource_version() -> None:
    client = FakeClient(_object())
    holder = _holder(client)
    assert _run(lambda: holder.hold_object("ns", "x", "u1")) is True
    assert client.calls == ["GET", "PATCH"]
    assert client.patches[0][0] == {"op": "test", "path": "/metadata/resourceVersion", "value": "7"}
    assert _run(lambda: holder.hold_object("ns", "x", "u1")) is True
    assert client.calls == ["GET", "PATCH"], "held from then on"


def test_an_event_without_it_forgets_that_it_was_held() -> None:
    client = FakeClient(_object((OURS,)))
    holder = _holder(client)
    holder.observe(_object((OURS,))["metadata"])
    holder.observe(_object()["metadata"])  # removed by hand
    assert not holder.held("u1")
    holder.observe(_object((OURS,))["metadata"])
    holder.forget("u1")
    assert not holder.held("u1")


@pytest.mark.parametrize(
    ("found", "why"),
    [
        pytest.param(
            _object(deleting=True), "being deleted: no finalizer can be added", id="going"
        ),
        pytest.param(None, "gone", id="gone"),
        pytest.param(_object(uid="u2"), "another object of the same name", id="recreated"),
    ],
)
def test_work_must_not_start(found: dict[str, Any] | None, why: str) -> None:
    client = FakeClient(found)
    assert _run(lambda: _holder(client).hold_object("ns", "x", "u1")) is False, why
    assert "PATCH" not in client.calls


@pytest.mark.parametrize(
    ("failure", "applied", "patches"),
    [
        pytest.param(kube.Conflict("HTTP 422"), False, 2, id="conflict-then-retry"),
        pytest.param(
            errors.ConnectionFailed("HTTP 504"), True, 1, id="applied-though-the-reply-failed"
        ),
    ],
)
def test_a_failed_patch_is_checked_against_the_object_as_it_is(
    failure: Exception, applied: bool, patches: int
) -> None:
    client = FakeClient(_object())
    client.patch_fails = [failure]
    client.applied = applied
    assert _run(lambda: _holder(client).hold_object("ns", "x", "u1")) is True
    assert client.calls.count("PATCH") == patches
    assert client.found is not None
    assert client.found["metadata"]["finalizers"] == [OURS], "never added twice"


def test_deletion_policy_delete_holds_from_the_event_without_a_read() -> None:
    client = FakeClient(_object())
    assert _run(lambda: _holder(client).hold(_object()["metadata"])) is True
    assert client.calls == ["PATCH"]
