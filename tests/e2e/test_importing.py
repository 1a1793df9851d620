"""The demo seed against a real PostgreSQL (integration: needs `make up`): its schema and data
generator load, and the runbook whose statements the importer turns into examples/seed/indexes.yaml
(tests/unit/test_importing.py) builds exactly its twelve indexes, all valid."""

from __future__ import annotations

import subprocess

from tests.conftest import REPO_ROOT
from tests.unit.test_importing import RUNBOOK_INDEXES

SEED = REPO_ROOT / "examples" / "seed"


def _psql(local_env: dict[str, str], url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["psql", "--no-psqlrc", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, *args],
        env=local_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )


def test_seed_schema_and_generator_load_and_the_runbook_builds(
    local_env: dict[str, str], database: str
) -> None:
    _psql(local_env, database, "-f", str(SEED / "schema.sql"))
    _psql(local_env, database, "-v", "scale=2000", "-f", str(SEED / "generate.sql"))
    counts = _psql(
        local_env,
        database,
        "-At",
        "-c",
        "SELECT relname || '=' || n_live_tup FROM pg_stat_user_tables ORDER BY relname",
    ).stdout.split()
    assert counts == [
        "activities=2000",
        "comments=500",
        "follows=500",
        "kudos=1000",
        "notifications=1000",
        "segment_efforts=2000",
        "segment_stars=200",
        "segments=40",
    ]
    # The runbook's own statements (what the manifests describe) build valid indexes on it.
    _psql(local_env, database, "-f", str(SEED / "runbook.sql"))
    valid = _psql(
        local_env,
        database,
        "-At",
        "-c",
        "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
        " WHERE i.indisvalid AND c.relname LIKE 'idx\\_%' ORDER BY 1",
    ).stdout.split()
    assert valid == sorted(name for name, _, _ in RUNBOOK_INDEXES)
