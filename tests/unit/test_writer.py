"""StatusWriter against a recording fake of our own kube.Client seam: coalescing and settling."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

from dbindex_operator.core import status
from dbindex_operator.runtime import tracking, writer


class RecordingClient:
    def __init__(self) -> None:
        self.patches: list[tuple[float, dict[str, Any]]] = []

    async def patch_status(self, namespace: str, name: str, patch: dict[str, Any]) -> bool:
        self.patches.append((asyncio.get_running_loop().time(), dict(patch)))
        return True


def _tracked() -> tracking.Tracked:
    return tracking.Tracked(
        namespace="ns",
        name="x",
        uid="u",
        generation=1,
        retry_token=None,
        spec=None,
        spec_error=None,
        status={},
        written={},
    )


def _report(phase: str, percent: int = 0) -> status.Report:
    return status.Report(phase=phase, reason="R", message="m", progress={"percent": percent})


def _run(scenario: Any) -> RecordingClient:
    client = RecordingClient()

    async def main() -> None:
        out = writer.StatusWriter(client, min_interval=1.0, settle=0.2, new_phase_settle=0.2)  # type: ignore[arg-type]
        out.start()
        await scenario(out)
        await asyncio.sleep(1.3)
        await out.stop()

    asyncio.run(main())
    return client


def test_a_quick_build_is_written_once_as_ready() -> None:
    tracked = _tracked()

    async def scenario(out: writer.StatusWriter) -> None:
        out.submit(tracked, _report("Building"))
        await asyncio.sleep(0.05)
        out.submit(tracked, _report("Ready", 100))

    patches = _run(scenario).patches
    assert [p["phase"] for _, p in patches] == ["Ready"]


def test_at_most_one_patch_per_interval_with_the_newest_content() -> None:
    tracked = _tracked()

    async def scenario(out: writer.StatusWriter) -> None:
        for percent in range(1, 31):  # 30 reports over 3 s
            out.submit(tracked, _report("Building", percent))
            await asyncio.sleep(0.1)

    patches = _run(scenario).patches
    times = [t for t, _ in patches]
    assert all(b - a >= 0.99 for a, b in itertools.pairwise(times)), times
    assert 3 <= len(patches) <= 5
    assert patches[-1][1]["progress"]["percent"] == 30


def test_an_unchanged_status_is_not_written() -> None:
    tracked = _tracked()

    async def scenario(out: writer.StatusWriter) -> None:
        out.submit(tracked, _report("Ready", 100))
        await asyncio.sleep(1.2)
        out.submit(tracked, _report("Ready", 100))

    assert len(_run(scenario).patches) == 1


def test_removed_fields_are_cleared_with_null() -> None:
    tracked = _tracked()

    async def scenario(out: writer.StatusWriter) -> None:
        out.submit(
            tracked,
            status.Report(
                phase="Retrying", reason="R", message="m", last_error={"sqlstate": "55P03"}
            ),
        )
        await asyncio.sleep(1.1)
        out.submit(tracked, _report("Building"))

    patches = _run(scenario).patches
    assert patches[-1][1]["lastError"] is None


class FailingClient(RecordingClient):
    """Refuses the first `failures` patches, as an API server that hiccups."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.calls = 0

    async def patch_status(self, namespace: str, name: str, patch: dict[str, Any]) -> bool:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError("API server hiccup")
        return await super().patch_status(namespace, name, patch)


def _run_slow(scenario: Any, client: RecordingClient, seconds: float = 1.0) -> RecordingClient:
    """A writer whose interval (60 s) is far longer than the scenario: whatever it writes in
    `seconds` was not held back by the one-patch-per-interval rule."""

    async def main() -> None:
        out = writer.StatusWriter(client, min_interval=60.0, settle=0.2, new_phase_settle=0.2)  # type: ignore[arg-type]
        out.start()
        await scenario(out)
        await asyncio.sleep(seconds)
        await out.stop()

    asyncio.run(main())
    return client


@pytest.mark.parametrize("terminal", ["Ready", "Failed"])
def test_a_terminal_status_is_written_at_once_after_a_progress_patch(terminal: str) -> None:
    tracked = _tracked()

    async def scenario(out: writer.StatusWriter) -> None:
        out.submit(tracked, _report("Building", 10))
        await asyncio.sleep(0.5)  # Building went out after the settle time
        out.submit(tracked, _report(terminal, 100))

    patches = _run_slow(scenario, RecordingClient()).patches
    assert [p["phase"] for _, p in patches] == ["Building", terminal]


def test_progress_after_a_patch_still_waits_for_the_interval() -> None:
    tracked = _tracked()

    async def scenario(out: writer.StatusWriter) -> None:
        out.submit(tracked, _report("Building", 10))
        await asyncio.sleep(0.5)
        out.submit(tracked, _report("Building", 20))

    patches = _run_slow(scenario, RecordingClient()).patches
    assert [p["progress"]["percent"] for _, p in patches] == [10]


def test_a_new_blocking_pid_is_written_at_once_and_the_same_one_waits() -> None:
    """Issue #16 scenario 5: the PID a waiting build is blocked by shows within one progress
    interval, not after the one-patch-per-second rule; an unchanged blocker is plain progress."""
    tracked = _tracked()

    def blocked(percent: int, *pids: int) -> status.Report:
        progress: dict[str, Any] = {"percent": percent, "blockingPids": list(pids)}
        return status.Report(phase="Building", reason="R", message="m", progress=progress)

    async def scenario(out: writer.StatusWriter) -> None:
        out.submit(tracked, _report("Building", 10))
        await asyncio.sleep(0.5)
        out.submit(tracked, blocked(10, 4242))  # new: at once
        await asyncio.sleep(0.1)
        out.submit(tracked, blocked(11, 4242))  # same blocker: waits for the interval

    patches = _run_slow(scenario, RecordingClient()).patches
    assert [p["progress"].get("blockingPids") for _, p in patches] == [None, [4242]]


def test_a_terminal_status_that_fails_to_go_out_is_retried_no_sooner_than_the_interval() -> None:
    tracked = _tracked()

    async def scenario(out: writer.StatusWriter) -> None:
        out.submit(tracked, _report("Ready", 100))

    client = _run_slow(scenario, FailingClient(failures=100))
    assert isinstance(client, FailingClient)
    assert client.calls == 1 and client.patches == []


def test_a_queued_then_building_object_that_ends_soon_is_written_once() -> None:
    """A new phase waits `new_phase_settle` (2 s): Queued, Building and Ready within it are one
    patch, Ready (issue #15 section 3: at most 3 writes per object)."""
    tracked = _tracked()
    client = RecordingClient()

    async def main() -> None:
        out = writer.StatusWriter(client, min_interval=1.0, settle=0.2, new_phase_settle=1.0)  # type: ignore[arg-type]
        out.start()
        out.submit(tracked, _report("Pending"))
        await asyncio.sleep(0.4)
        out.submit(tracked, _report("Building", 50))
        await asyncio.sleep(0.4)
        out.submit(tracked, _report("Ready", 100))
        await asyncio.sleep(0.5)
        await out.stop()

    asyncio.run(main())
    assert [patch["phase"] for _, patch in client.patches] == ["Ready"]
