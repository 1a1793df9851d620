"""A STATE row (catalog.py) turned into an IndexState, and the row's fingerprint.

The resync compares fingerprints before it parses: a row equal to the one the object last
rested on is not parsed again (runtime/db.fetch_changed_states), which is most rows of a
settled fleet.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from collections.abc import Mapping
from typing import Any

from dbindex_operator.core.catalog import IndexState, Progress


def fingerprint(row: Mapping[str, Any], version: int) -> bytes:
    """128 bits of BLAKE2b over the row's values and the server version: equal rows give equal
    fingerprints, different ones (drift, a build, a lock) different ones, barring a collision
    of 2**-128. The values are pickled, not repr'd: they are str, bytes, int, bool, None and
    lists of those, which pickle writes the same way every time, at half repr's cost."""
    data = pickle.dumps((version, *row.values()), protocol=5)
    return hashlib.blake2b(data, digest_size=16).digest()


def state_from_row(
    row: Mapping[str, Any], *, server_version: int = 0, fingerprint: bytes = b""
) -> IndexState:
    builder = json_value(row["builder"])
    return IndexState(
        table_oid=row["table_oid"],
        table_pages=int(row["table_pages"] or 0),
        table_kind=_char(row["table_kind"]),
        relation_oid=row["relation_oid"],
        relation_kind=_char(row["relation_kind"]),
        on_table=bool(row["on_table"]),
        valid=bool(row["valid"]),
        definition=row["definition"],
        locked_by=row.get("locked_by"),
        constraint_kind=_char(row.get("constraint_kind")),
        replica_identity=bool(row.get("replica_identity")),
        clustered=bool(row.get("clustered")),
        comment=row.get("comment"),
        stat_targets=tuple((int(a), int(b)) for a, b in json_value(row.get("stat_targets")) or ()),
        replacement_oid=row.get("replacement_oid"),
        replacement_valid=bool(row.get("replacement_valid")),
        replacement_signature=json_value(row.get("replacement_signature")),
        retired_oid=row.get("retired_oid"),
        reindex_leftovers=tuple(json_value(row.get("reindex_leftovers")) or ()),
        signature=json_value(row["signature"]),
        builder=None if builder is None else Progress.from_row(builder),
        server_version=server_version,
        fingerprint=fingerprint,
    )


def json_value(value: Any) -> Any:
    """asyncpg returns json columns as text."""
    return json.loads(value) if isinstance(value, str) else value


def _char(value: Any) -> str | None:
    return value.decode() if isinstance(value, bytes) else value
