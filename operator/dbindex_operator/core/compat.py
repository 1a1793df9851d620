"""What the operator needs from each PostgreSQL major, and the one check of a spec against the
server it is about to run on. Pure: the version comes from runtime/db.fetch_states (asyncpg
learns it in the connection handshake), as ``server_version_num`` (150004 for 15.4).

Version facts the operator relies on (docs/compatibility.md has the tested matrix):
- 14: the oldest supported major. Build sessions set ``client_connection_check_interval`` (new
  in 14), so a build whose operator died is aborted by the server instead of running on; older
  servers refuse that setting when a session starts.
- 15: ``NULLS NOT DISTINCT`` (spec.nullsNotDistinct); on 14 the object fails with a message
  saying so instead of the server's syntax error. Catalog reads take ``pg_index.
  indnullsnotdistinct`` through to_jsonb, so the same SQL runs on 14 (core/signature.py).
- 16: ``pg_stat_all_indexes.last_idx_scan``: the health pass dates the last scan from it when
  present (core/health.py); before 16 it dates it from its own observations.
- ``pg_stat_progress_create_index`` has the same columns (the ones core/catalog.py reads) on
  every major from 12 to 18.
"""

from __future__ import annotations

from typing import Final

from dbindex_operator.core import spec as specs

MINIMUM: Final = 140000
NULLS_NOT_DISTINCT: Final = 150000
LAST_IDX_SCAN: Final = 160000

REASON: Final = "UnsupportedServerVersion"
"""The Failed reason when the server cannot do what the spec asks."""


def version_number(major: int, minor: int | None, micro: int | None) -> int:
    """server_version_num from asyncpg's ServerVersion parts. From 10 on asyncpg reads "14.23"
    as (14, 0, 23): the second number is the micro part; before 10, 9.6.3 is (9, 6, 3)."""
    if major >= 10:
        return major * 10000 + (micro or 0)
    return major * 10000 + (minor or 0) * 100 + (micro or 0)


def describe(server_version: int) -> str:
    """150004 -> '15.4' (server_version_num of 10 and later: major * 10000 + minor)."""
    return f"{server_version // 10000}.{server_version % 10000}"


def unsupported(spec: specs.IndexSpec, server_version: int) -> str | None:
    """Why `spec` cannot be built on a server of `server_version` (0: not known, nothing is
    refused), else None."""
    if server_version <= 0:
        return None
    if server_version < MINIMUM:
        return (
            f"PostgreSQL {describe(server_version)} is not supported: the operator needs "
            f"PostgreSQL {MINIMUM // 10000} or later (client_connection_check_interval)"
        )
    if spec.nulls_not_distinct and server_version < NULLS_NOT_DISTINCT:
        return (
            f"nullsNotDistinct (NULLS NOT DISTINCT) needs PostgreSQL "
            f"{NULLS_NOT_DISTINCT // 10000} or later; this server runs "
            f"{describe(server_version)}"
        )
    return None
