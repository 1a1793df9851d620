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


def reindex_leftovers(name: str) -> str:
    """A PostgreSQL regular expression matching the names REINDEX CONCURRENTLY gives its copies
    of the index `name`: `<name>_ccnew` while it builds, `<name>_ccold` after the swap, with a
    number appended when the name is taken, and `<name>` cut to fit 63 bytes (ChooseRelationName
    and makeObjectName in PostgreSQL). A failed or killed reindex leaves them INVALID."""
    parts = []
    for digits, numbers in ((0, ""), (1, "[1-9]"), (2, "[1-9][0-9]")):
        label = 5 + digits  # "ccnew", "ccnew1", "ccnew12"
        base = _escape(_truncate(name, MAX_BYTES - 1 - label))
        parts.append(f"{base}_cc(new|old){numbers}")
    return "^(" + "|".join(parts) + ")$"


def _escape(text: str) -> str:
    """Every character but letters, digits and _ as a literal in a PostgreSQL regex (ARE)."""
    return "".join(c if c.isalnum() or c == "_" else "\\" + c for c in text)


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
