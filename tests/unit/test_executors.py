"""The executor interface (runtime/executors/base.py) driven with a fake executor: the order of
start, run, progress and outcome; failures, bugs and cancellation; the release on every exit."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from dbindex_operator.core import catalog, errors, locks, settings
from dbindex_operator.runtime import db, tracking
from dbindex_operator.runtime.executors import base


def _tracked() -> tracking.Tracked:
    from tests.unit.builders import index_spec

    return tracking.Tracked(
        namespace="ns",
        name="x",
        uid="u",
        generation=1,
        retry_token=None,
        spec=index_spec(),
        spec_error=None,
        status={},
        written={},
    )


class LockingConnection:
    """All runtime/guard.Guard asks of a session here: the advisory lock, granted."""

    async def fetchval(self, query: str, *args: Any) -> Any:
        assert query == locks.TRY_LOCK
        return True


class FakeExecutor(base.Executor):
    kind = "fake"
    polls_progress = True

    def __init__(self, tracked: tracking.Tracked, behaviour: Any, held: bool = True) -> None:
        async def hold(which: tracking.Tracked) -> bool:
            self.calls.append(f"hold({which.name})")
            return held

        ctx = base.Context(
            db.ConnectParams(dsn="postgresql://x@h/d"),
            None,
            settings.Settings(),
            None,  # type: ignore[arg-type]  # the fake reports nothing
            lambda: 0.0,
            hold,
        )
        super().__init__(ctx, tracked)
        self.behaviour = behaviour
        self.calls: list[str] = []
        self.results: list[base.Outcome] = []
        self.gate = asyncio.Event()

    def start(self) -> None:
        self.calls.append(f"start(job={self.tracked.job is not None})")

    async def run(self, job: tracking.Job) -> Any:
        self.calls.append("run")
        job.set_backend(4242)
        await self.gate.wait()
        guard = db.GUARD.get()
        if guard is not None:  # what db.session does first on every DDL session
            await guard(LockingConnection())
        self.calls.append("ddl")
        if isinstance(self.behaviour, BaseException):
            raise self.behaviour
        return self.behaviour

    def progress(self, row: catalog.Progress) -> None:
        self.calls.append(f"progress({row.pid})")

    def outcome(self, result: base.Outcome) -> None:
        self.calls.append("outcome")
        self.results.append(result)


async def _launch(behaviour: Any, *, cancel: bool = False) -> tuple[FakeExecutor, list[str], Any]:
    tracked = _tracked()
    fake = FakeExecutor(tracked, behaviour)
    exits: list[str] = []
    job = base.launch(fake, lambda: exits.append(f"exit(job={tracked.job is not None})"))
    assert tracked.job is job and job.kind == "fake" and job.executor is fake
    assert fake.calls == ["start(job=False)"], "start runs at once, before the task"
    await asyncio.sleep(0)
    assert job.backend_pid == 4242, "the executor tells its backend so progress can be polled"
    assert tracked.building
    job.executor.progress(catalog.Progress(pid=4242))
    if cancel:
        job.cancel()
        job.cancel()  # idempotent
        assert job.cancelled
    fake.gate.set()
    assert job.task is not None
    await asyncio.gather(job.task, return_exceptions=True)
    assert tracked.job is None and not tracked.building
    assert job.backend_pid is None or cancel
    return fake, exits, job


def test_success_reaches_outcome_with_the_value() -> None:
    fake, exits, _ = asyncio.run(_launch("CREATE INDEX ..."))
    assert fake.calls == [
        "start(job=False)",
        "hold(x)",  # started with the work, so that it overlaps the connection
        "run",
        "progress(4242)",
        "ddl",
        "outcome",
    ]
    assert fake.results[0].value == "CREATE INDEX ..." and fake.results[0].failure is None
    assert fake.results[0].took >= 0
    assert exits == ["exit(job=False)"], "released once, after the job is gone"


def test_failure_reaches_outcome() -> None:
    failure = errors.BuildFailure("23505", "duplicate key")
    fake, exits, _ = asyncio.run(_launch(failure))
    assert fake.results == [base.Outcome(failure=failure, took=fake.results[0].took)]
    assert exits == ["exit(job=False)"]


def test_a_bug_is_a_retryable_failure_not_a_lost_task() -> None:
    fake, exits, _ = asyncio.run(_launch(KeyError("oops")))
    failure = fake.results[0].failure
    assert failure is not None and failure.retryable
    assert failure.message == "internal error: 'oops'"
    assert exits == ["exit(job=False)"]


def test_cancelled_work_gets_no_outcome_but_is_released() -> None:
    fake, exits, job = asyncio.run(_launch("never", cancel=True))
    assert "outcome" not in fake.calls and fake.results == []
    assert job.task is not None and job.task.cancelled()
    assert exits == ["exit(job=False)"]


@pytest.mark.parametrize(
    ("kind", "needs_slot", "polls"),
    [
        ("build", True, True),
        ("drop-leftover", True, False),
        ("delete", True, False),
        ("probe", False, False),
    ],
)
def test_every_executor_declares_its_needs(kind: str, needs_slot: bool, polls: bool) -> None:
    from dbindex_operator.runtime.executors import build, drop, probe

    by_kind = {
        cls.kind: cls for cls in (build.Build, drop.DropLeftover, drop.DropForDeletion, probe.Probe)
    }
    assert (by_kind[kind].needs_slot, by_kind[kind].polls_progress) == (needs_slot, polls)


def test_no_ddl_for_an_object_that_cannot_be_held(monkeypatch: pytest.MonkeyPatch) -> None:
    """The object is being deleted without our finalizer: no DDL, no outcome, the attempt
    start() counted is given back, the slot is released."""
    monkeypatch.setattr(base, "ABSTAIN_PAUSE", 0.0)

    async def scenario() -> tuple[FakeExecutor, list[str], tracking.Tracked]:
        tracked = _tracked()
        fake = FakeExecutor(tracked, "never", held=False)
        fake.gate.set()
        exits: list[str] = []
        original = fake.start

        def start() -> None:
            original()
            tracked.attempts += 1  # what a build's start() counts

        fake.start = start  # type: ignore[method-assign]
        job = base.launch(fake, lambda: exits.append("exit"))
        assert job.task is not None
        await job.task
        return fake, exits, tracked

    fake, exits, tracked = asyncio.run(scenario())
    assert fake.calls == ["start(job=False)", "hold(x)", "run"], "no DDL ran"
    assert fake.results == [] and exits == ["exit"] and tracked.attempts == 0


class FakeProbe(FakeExecutor):
    kind = "probe-like"
    needs_slot = False


@pytest.mark.parametrize(
    ("cls", "deleting", "held"),
    [
        pytest.param(FakeExecutor, False, True, id="ddl-is-held-first"),
        pytest.param(FakeProbe, False, False, id="read-only-is-not-held"),
        pytest.param(FakeExecutor, True, False, id="cleanup-of-a-deletion-holds-already"),
    ],
)
def test_which_work_holds_the_object_first(
    cls: type[FakeExecutor], deleting: bool, held: bool
) -> None:
    async def scenario() -> FakeExecutor:
        tracked = _tracked()
        if deleting:
            tracked.deletion = tracking.Deletion(
                started_at=0.0, done=asyncio.get_running_loop().create_future()
            )
        fake = cls(tracked, "ok")
        fake.gate.set()
        job = base.launch(fake, lambda: None)
        assert job.task is not None
        await job.task
        return fake

    fake = asyncio.run(scenario())
    assert ("hold(x)" in fake.calls) is held
    assert fake.calls[-3:] == ["run", "ddl", "outcome"]
