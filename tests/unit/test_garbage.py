"""runtime/garbage.py: scheduled full collections that freeze the survivors, so that the collector's
own collections skip a settled fleet's objects, and cyclic garbage among them waits only until the
next scheduled collection.

The collector's state is the process's: the behaviour runs in a child process, not in the one
that runs the rest of the suite.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from dbindex_operator.runtime import garbage


@pytest.mark.parametrize(
    ("first", "every", "waits"),
    [
        (30.0, 600.0, [30.0, 60.0, 120.0, 240.0, 480.0, 600.0]),
        (600.0, 600.0, [600.0]),
        (1.0, 4.0, [1.0, 2.0, 4.0]),
        (700.0, 600.0, [600.0]),
    ],
)
def test_schedule_starts_soon_and_settles_on_every(
    first: float, every: float, waits: list[float]
) -> None:
    assert garbage.schedule(first, every) == waits


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
        task = asyncio.create_task(garbage.collect_forever(first=0.01, every=0.02))
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
