"""runtime/garbage.py: full collections that freeze the survivors, made when a burst of work falls
idle and at least every so often, so that the collector's own collections skip a settled fleet's
objects, and cyclic garbage among them waits only until the next of ours.

The collector's state is the process's: the behaviour runs in a child process, not in the one
that runs the rest of the suite.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import subprocess
import sys
import textwrap

import pytest

from dbindex_operator.runtime import garbage

RULES = garbage.Rules(every=600.0, burst_cpu=1.0, idle_seconds=3.0, idle_cpu=0.1)


@pytest.mark.parametrize(
    ("since_last", "cpu_since_last", "cpu_recent", "due"),
    [
        (5.0, 0.2, 0.0, False),  # idle, but nothing happened since the last collection
        (20.0, 8.0, 0.9, False),  # a burst still running
        (20.0, 8.0, 0.05, True),  # a burst, then idle: collect now, before anyone waits
        (20.0, 1.0, 0.1, True),  # both thresholds are inclusive
        (20.0, 8.0, float("inf"), False),  # idle for less than idle_seconds so far
        (600.0, 0.0, 5.0, True),  # the bound on waiting garbage, busy or not
        (599.0, 0.5, 0.0, False),
    ],
)
def test_due_after_a_burst_falls_idle_or_every_so_often(
    since_last: float, cpu_since_last: float, cpu_recent: float, due: bool
) -> None:
    got = garbage.due(
        RULES, since_last=since_last, cpu_since_last=cpu_since_last, cpu_recent=cpu_recent
    )
    assert got is due


class FakeProcess:
    """A clock and a CPU counter the test moves by hand: `busy` seconds use a full core."""

    def __init__(self) -> None:
        self.now = 0.0
        self.cpu = 0.0
        self.busy = False

    def clock(self) -> float:
        return self.now

    def cpu_time(self) -> float:
        return self.cpu

    def step(self) -> None:
        self.now += 1.0
        self.cpu += 1.0 if self.busy else 0.01


async def _collections(phases: list[tuple[bool, int]], rules: garbage.Rules = RULES) -> list[float]:
    """Run collect_forever through (busy?, seconds) phases; return when it collected."""
    process = FakeProcess()
    at: list[float] = []
    rules = dataclasses.replace(rules, tick=0.001)
    task = asyncio.create_task(
        garbage.collect_forever(
            rules, clock=process.clock, cpu=process.cpu_time, collect=lambda: at.append(process.now)
        )
    )
    await asyncio.sleep(0.05)  # collect_forever took its first sample at 0
    for busy, seconds in phases:
        process.busy = busy
        for _ in range(seconds):
            process.step()
            await asyncio.sleep(0.01)  # one tick of collect_forever per step
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return at


def test_collect_forever_collects_once_a_burst_has_been_idle_for_idle_seconds() -> None:
    # busy for 10 s (a restart's listing and passes), then idle: one collection 3 s later.
    assert asyncio.run(_collections([(True, 10), (False, 30)])) == [13.0]


def test_collect_forever_leaves_an_idle_process_alone_until_every() -> None:
    assert asyncio.run(_collections([(False, 30)])) == []
    # ... and a burst after the collection makes the next one.
    assert asyncio.run(_collections([(True, 5), (False, 10), (True, 5), (False, 10)])) == [
        8.0,
        23.0,
    ]


def test_collect_forever_collects_every_so_often_even_when_busy() -> None:
    rules = dataclasses.replace(RULES, every=20.0)
    assert asyncio.run(_collections([(True, 45)], rules)) == [20.0, 40.0]


CHILD = textwrap.dedent(
    """
    import asyncio, gc, json, weakref
    from dbindex_operator.runtime import garbage

    class Node:
        pass

    def cycle():
        a, b = Node(), Node()
        a.peer, b.peer = b, a
        return a

    out = {}
    fleet = [[i] for i in range(10_000)]  # long-lived containers, like a fleet's records
    garbage_before = cycle()
    gone_before = weakref.ref(garbage_before)
    del garbage_before
    out["found"] = garbage.collect_and_freeze()
    out["collected_before"] = gone_before() is None
    out["frozen"] = gc.get_freeze_count()

    # A record that was alive at the freeze and becomes cyclic garbage after it (a deleted
    # object's): the collector's own full collection skips it, the next scheduled one frees it.
    holder = {"record": cycle()}
    gc.collect()
    garbage.collect_and_freeze()
    dead = weakref.ref(holder.pop("record"))
    gc.collect()
    out["kept_by_plain_collect"] = dead() is not None
    garbage.collect_and_freeze()
    out["freed_by_scheduled"] = dead() is None

    async def run():
        gc.unfreeze()
        rules = garbage.Rules(every=0.02, tick=0.005)
        task = asyncio.create_task(garbage.collect_forever(rules))
        await asyncio.sleep(0.2)
        out["frozen_while_running"] = gc.get_freeze_count()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        out["frozen_after_cancel"] = gc.get_freeze_count()

    asyncio.run(run())
    print(json.dumps(out))
    """
)


def test_collect_and_freeze_frees_cycles_and_freezes_the_rest() -> None:
    result = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=60, check=True
    )
    out = json.loads(result.stdout)
    assert out["found"] >= 2 and out["collected_before"]
    assert out["frozen"] >= 10_000
    assert out["kept_by_plain_collect"]
    assert out["freed_by_scheduled"]
    assert out["frozen_while_running"] >= 10_000
    assert out["frozen_after_cancel"] == 0
