"""glibc's malloc, told to keep less memory than it frees.

Two habits of glibc make an operator's resident memory grow past what it uses (measured in
docs/benchmarks.md, "Memory: allocator arenas and trimming"):
- every thread that allocates may get an arena of its own, up to 8 per core; the API client's
  write threads (runtime/kube.py) and asyncio's default executor each parse JSON replies, so a
  first start's burst leaves freed memory scattered over many arenas;
- freed memory in the middle of a heap stays resident until `malloc_trim` gives its pages back.

Both are asked for through ctypes; on another C library (musl) nothing happens and the operator
runs as before.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging

logger = logging.getLogger(__name__)

# <malloc.h>: mallopt's parameter for the most arenas.
M_ARENA_MAX = -8


def _glibc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    if not (hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim")):
        return None
    return libc


_LIBC = _glibc()


def limit_arenas(count: int) -> bool:
    """At most `count` malloc arenas for threads started from now on. Call before any thread:
    an arena, once made, stays. True if glibc took the setting."""
    if _LIBC is None:
        return False
    return bool(_LIBC.mallopt(M_ARENA_MAX, count))


def trim() -> bool:
    """Give the free pages of every arena back to the kernel. True if some were."""
    if _LIBC is None:
        return False
    return bool(_LIBC.malloc_trim(0))


async def trim_forever(interval: float) -> None:
    """`trim` every `interval` seconds: after a burst (a first start, a large listing) the
    process's RSS falls back to what it holds, instead of staying at the burst's high-water mark."""
    while True:
        await asyncio.sleep(interval)
        trim()
