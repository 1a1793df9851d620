"""Python's cyclic garbage collector, told that a settled operator's objects are not garbage.

A full collection walks every container object the process holds: at 10,000 DatabaseIndex
objects about 600,000 (Kopf's per-object memories, our Tracked records, their specs and
statuses), 0.45 s each, and an idle operator made one every few minutes on its own (measured in
docs/benchmarks.md, "Memory: allocator arenas and trimming"): a large part of its idle CPU.

So the operator collects in full on a schedule of its own and then freezes what survived
(`gc.freeze`: the permanent generation, which the collector's own collections skip); those
walk only what is newer. Cyclic garbage among frozen objects (say the records of a deleted
object) waits for the next scheduled collection, so the schedule bounds what can wait: the first
collections come soon after the start (a first start makes most of the garbage), then every
COLLECT_EVERY seconds.
"""

from __future__ import annotations

import asyncio
import gc

FIRST_COLLECT = 30.0  # seconds after the start; each later wait doubles, up to COLLECT_EVERY
COLLECT_EVERY = 600.0


def collect_and_freeze() -> int:
    """A full collection of everything, frozen objects included; then freeze the survivors.
    Returns the number of unreachable objects found."""
    gc.unfreeze()
    found = gc.collect()
    gc.freeze()
    return found


def schedule(first: float = FIRST_COLLECT, every: float = COLLECT_EVERY) -> list[float]:
    """The waits between scheduled collections, until they reach `every` (which then repeats)."""
    waits = []
    wait = first
    while wait < every:
        waits.append(wait)
        wait *= 2
    return [*waits, every]


async def collect_forever(first: float = FIRST_COLLECT, every: float = COLLECT_EVERY) -> None:
    """collect_and_freeze on the schedule until cancelled; then unfreeze, so that whatever runs
    on in the process (a test suite) has the collector's own ways back."""
    waits = schedule(first, every)
    try:
        for wait in waits[:-1]:
            await asyncio.sleep(wait)
            collect_and_freeze()
        while True:
            await asyncio.sleep(waits[-1])
            collect_and_freeze()
    finally:
        gc.unfreeze()
