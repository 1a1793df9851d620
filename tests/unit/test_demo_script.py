"""hack/demo.sh's psql wrapper, run in bash without a server: it must reach a real psql when the
PostgreSQL of the environment ships none (the server-only packages of majors other than 15)."""

from __future__ import annotations

import subprocess
from pathlib import Path

DEMO = Path(__file__).resolve().parents[2] / "hack" / "demo.sh"


def _wrapper(pg_bindir: Path, call: str) -> str:
    """A bash script: demo.sh's psql lines with PG_BINDIR set, then CALL."""
    return f'die() {{ echo "$*" >&2; exit 1; }}\nPG_BINDIR={pg_bindir}\n{_psql_block()}\n{call}'


def _psql_block() -> str:
    """demo.sh from its `psql_bin=` line to the definition of its psql function."""
    lines = DEMO.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("psql_bin="))
    end = next(i for i, line in enumerate(lines) if line.startswith("psql() {"))
    return "\n".join(lines[start : end + 1])


def test_psql_wrapper_without_psql_in_pg_bindir_runs_the_one_on_path(tmp_path: Path) -> None:
    # With `psql_bin=psql` the function called itself until bash was OOM-killed (22 GB): the
    # memory limit and the timeout turn that into a quick failure here.
    script = _wrapper(tmp_path, "psql --version")
    result = subprocess.run(
        ["bash", "-c", f"ulimit -v 1000000; {script}"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("psql (PostgreSQL)")


def test_psql_wrapper_prefers_the_psql_in_pg_bindir(tmp_path: Path) -> None:
    fake = tmp_path / "psql"
    fake.write_text('#!/bin/sh\necho "bindir psql $*"\n')
    fake.chmod(0o755)
    script = _wrapper(tmp_path, "psql -c x")
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("bindir psql -X -q -v ON_ERROR_STOP=1 -c x")
