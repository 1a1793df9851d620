"""runtime/allocator.py: glibc gives freed heap memory back, and other C libraries are left alone.

The memory behaviour runs in a child process: a test cannot undo an arena limit or a trim in the
process that runs the rest of the suite, and RSS is only meaningful in a process of its own.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from dbindex_operator.runtime import allocator

# 2,000 blocks of 64 KiB (under glibc's 128 KiB mmap threshold, so they come from the heap),
# all freed but the last one, which pins the heap's top: freed memory below it stays resident
# until malloc_trim gives its pages back.
CHILD = textwrap.dedent(
    """
    import ctypes, json, sys
    from dbindex_operator.runtime import allocator

    def rss_kib():
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])

    malloc, free = ctypes.CDLL("libc.so.6").malloc, ctypes.CDLL("libc.so.6").free
    malloc.restype = ctypes.c_void_p
    free.argtypes = [ctypes.c_void_p]
    blocks = []
    for _ in range(2000):
        block = malloc(64 * 1024)
        ctypes.memset(block, 1, 64 * 1024)  # touched: resident
        blocks.append(block)
    for block in blocks[:-1]:
        free(block)
    before = rss_kib()
    trimmed = allocator.trim() if sys.argv[1] == "trim" else False
    print(json.dumps({"before": before, "after": rss_kib(), "trimmed": trimmed}))
    """
)


def _child(mode: str) -> dict[str, int]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, mode], capture_output=True, text=True, check=True
    )
    result: dict[str, int] = json.loads(done.stdout)
    return result


def test_trim_gives_freed_heap_pages_back() -> None:
    untouched = _child("none")
    trimmed = _child("trim")
    # Without the trim the ~125 MiB freed under the pinned top stay resident...
    assert untouched["after"] >= untouched["before"] - 4 * 1024
    # ...with it they are gone (all but a few MiB of what the interpreter itself holds).
    assert trimmed["trimmed"]
    assert trimmed["before"] - trimmed["after"] >= 100 * 1024


def test_glibc_is_found_where_the_operator_runs() -> None:
    """The image (python:3.11-slim, Debian) and the machines the suite runs on use glibc: the
    allocator must find it there, not fall back to doing nothing (the musl case below)."""
    assert allocator._LIBC is not None


def test_limit_arenas_is_taken_by_glibc() -> None:
    assert allocator.limit_arenas(8)  # glibc's own default on a 1-core machine: harmless here


def test_without_glibc_nothing_is_done(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(allocator, "_LIBC", None)
    assert allocator.limit_arenas(2) is False
    assert allocator.trim() is False
