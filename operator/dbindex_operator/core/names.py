"""The names the operator gives the indexes it creates besides the declared one. Pure.

A replacement is built under a temporary name and the old index retired under another before it
is dropped. Both derive from the declared name alone (a fixed marker and a short hash of it), so
after a crash at any step the plan recognises them in the catalog without any memory of ours.
"""

from __future__ import annotations

import hashlib
import re

MAX_BYTES = 63
_OURS = re.compile(r"_dbi(new|old|p)_[0-9a-f]{8}\Z")


def replacement(name: str) -> str:
    """Where the new definition is built before it takes the declared name."""
    return _derived(name, "new")


def retired(name: str) -> str:
    """Where the old index waits for its DROP INDEX CONCURRENTLY after the swap."""
    return _derived(name, "old")


def partition(name: str, table: str) -> str:
    """The index on one partition (or partitioned sub-table) `table` of the declared index."""
    digest = hashlib.sha256(f"{name}\x00{table}".encode()).hexdigest()[:8]
    suffix = f"_dbip_{digest}"
    return _truncate(name, MAX_BYTES - len(suffix)) + suffix


def is_ours(relname: str) -> bool:
    """Whether a catalog name has the shape of a replacement, retired or partition index of ours."""
    return _OURS.search(relname) is not None


def _derived(name: str, role: str) -> str:
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    suffix = f"_dbi{role}_{digest}"
    return _truncate(name, MAX_BYTES - len(suffix)) + suffix


def _truncate(name: str, limit: int) -> str:
    """At most `limit` bytes of UTF-8, never cutting a character in half."""
    data = name.encode()
    if len(data) <= limit:
        return name
    return data[:limit].decode(errors="ignore")
