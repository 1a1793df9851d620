"""Python's cyclic garbage collector, told that a settled operator's objects are not garbage.

A full collection walks every container object the process holds: at 10,000 DatabaseIndex
objects about 600,000 (Kopf's per-object memories, our Tracked records, their specs and
statuses), 0.45 s each, and an idle operator made one every few minutes on its own (measured in
docs/benchmarks.md, "Memory: allocator arenas and trimming"): a large part of its idle CPU.

So the operator collects in full at moments of its own choosing and then freezes what survived
(`gc.freeze`: the permanent generation, which the collector's own collections skip); those
walk only what is newer. The moments: when the process falls idle after a burst of work (a
first start, a restart's listing, a large apply: the work that makes garbage and new long-lived
objects), so the collection costs nothing anyone waits for; and at least every
`Rules.every` seconds, which bounds how long cyclic garbage among frozen objects (say the records
of a deleted object) can wait.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import gc
import math
import time
from collections.abc import Callable


@dataclasses.dataclass(frozen=True)
class Rules:
    every: float = 600.0  # seconds: a collection at least this often, idle or not
    burst_cpu: float = 1.0  # CPU seconds used since the last collection that make a burst
    idle_seconds: float = 3.0  # ... followed by this long ...
    idle_cpu: float = 0.1  # ... using at most this much CPU (3 % of a core)
    tick: float = 1.0  # seconds between looks at the process's CPU time


def collect_and_freeze() -> int:
    """A full collection of everything, frozen objects included; then freeze the survivors.
    Returns the number of unreachable objects found."""
    gc.unfreeze()
    found = gc.collect()
    gc.freeze()
    return found


def due(rules: Rules, *, since_last: float, cpu_since_last: float, cpu_recent: float) -> bool:
    """Whether to collect now. `cpu_recent` is the CPU used over the last `idle_seconds` (inf
    while the process has not run that long since the last collection)."""
    if since_last >= rules.every:
        return True
    return cpu_since_last >= rules.burst_cpu and cpu_recent <= rules.idle_cpu


async def collect_forever(
    rules: Rules = Rules(),
    *,
    clock: Callable[[], float] = time.monotonic,
    cpu: Callable[[], float] = time.process_time,
    collect: Callable[[], object] = collect_and_freeze,
) -> None:
    """`collect` whenever `due` says so, until cancelled; then unfreeze, so that whatever runs
    on in the process (a test suite) has the collector's own ways back. The CPU time is the
    whole process's (every thread's), as `time.process_time` gives it."""
    last_at, last_cpu = clock(), cpu()
    recent: collections.deque[tuple[float, float]] = collections.deque([(last_at, last_cpu)])
    try:
        while True:
            await asyncio.sleep(rules.tick)
            now, used = clock(), cpu()
            recent.append((now, used))
            # Keep the newest sample that is at least idle_seconds old as the window's start.
            while len(recent) > 1 and now - recent[1][0] >= rules.idle_seconds:
                recent.popleft()
            start_at, start_cpu = recent[0]
            cpu_recent = used - start_cpu if now - start_at >= rules.idle_seconds else math.inf
            if due(
                rules,
                since_last=now - last_at,
                cpu_since_last=used - last_cpu,
                cpu_recent=cpu_recent,
            ):
                collect()
                # The collection's own CPU is not a burst of work.
                last_at, last_cpu = clock(), cpu()
                recent.clear()
                recent.append((last_at, last_cpu))
    finally:
        gc.unfreeze()
