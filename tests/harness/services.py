"""Stop and start the servers of the local environment (hack/up.sh) on purpose: the fault suite
(faults/) takes kube-apiserver and PostgreSQL away in the middle of builds.

kube-apiserver is started again with the exact command line it was started with (read from
/proc before it is stopped), in its own session, appending to its log; PostgreSQL through
pg_ctl, as the `postgres` user when we are root (as hack/lib.sh's as_pg does). Both PID files
in ``$DBINDEX_LOCAL_DIR/pids`` are kept current, so hack/up.sh still sees a healthy environment
and hack/down.sh still stops everything.
"""

from __future__ import annotations

import os
import shlex
import signal
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from tests.harness import HarnessError
from tests.harness.env import state_dir


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in state


class ApiServer:
    """The environment's kube-apiserver: ``stop()`` (SIGTERM, then SIGKILL) and ``start()``."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = dict(env)
        self.dir = state_dir(env)
        self.pid_file = self.dir / "pids" / "kube-apiserver"
        self.log_file = self.dir / "logs" / "kube-apiserver.log"
        self._argv: list[str] | None = None

    def pid(self) -> int:
        return int(self.pid_file.read_text().strip())

    def stop(self, grace: float = 5) -> None:
        """SIGTERM, and SIGKILL after ``grace`` seconds: a graceful stop would wait for every
        open watch (up to a minute); a node that goes away does not wait either."""
        pid = self.pid()
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        self._argv = [part.decode() for part in argv if part]
        if str(self.dir) not in " ".join(self._argv):
            raise HarnessError(f"pid {pid} is not this environment's kube-apiserver")
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while _alive(pid):
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
            time.sleep(0.1)

    def start(self, timeout: float = 120) -> float:
        """Start it again; return the monotonic time /readyz first answered 200."""
        if self._argv is None:
            raise HarnessError("start() without a stop() before it")
        with self.log_file.open("ab") as log:
            process = subprocess.Popen(
                self._argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        self.pid_file.write_text(f"{process.pid}\n")
        return self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 120) -> float:
        context = ssl.create_default_context(cafile=self.env["DBINDEX_CA_CERT"])
        context.load_cert_chain(self.env["DBINDEX_ADMIN_CERT"], self.env["DBINDEX_ADMIN_KEY"])
        url = self.env["DBINDEX_APISERVER_URL"].rstrip("/") + "/readyz"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url, context=context, timeout=2) as response:
                    if response.status == 200:
                        return time.monotonic()
            except OSError:
                pass
            time.sleep(0.2)
        raise HarnessError(f"kube-apiserver not ready after {timeout}s")


class Postgres:
    """The environment's PostgreSQL cluster, through pg_ctl."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = dict(env)
        self.dir = state_dir(env)
        self.data = (self.dir / "pg").resolve() / "data"
        self.bindir = Path(env.get("PG_BINDIR") or "/usr/lib/postgresql/15/bin")
        self.log_file = (self.dir / "pg").resolve() / "postgres.log"

    def _pg_ctl(self, *args: str, timeout: float = 120) -> None:
        command = [str(self.bindir / "pg_ctl"), "-D", str(self.data), *args]
        if os.getuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(
            command,
            cwd="/",
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        if result.returncode != 0:
            raise HarnessError(f"pg_ctl {' '.join(args)} failed: {result.stdout}{result.stderr}")

    def _options(self) -> str:
        """The server's own options (postmaster.opts) minus the binary and -D, for pg_ctl -o."""
        options = shlex.split((self.data / "postmaster.opts").read_text())[1:]
        if "-D" in options:
            at = options.index("-D")
            del options[at : at + 2]
        return shlex.join(options)

    def restart_immediate(self) -> None:
        """`pg_ctl restart -m immediate`: every backend dies at once, crash recovery follows."""
        self._pg_ctl("restart", "-m", "immediate", "-w", "-t", "120", "-l", str(self.log_file))
        self._record_pid()

    def stop(self) -> None:
        self._options_kept = self._options()
        self._pg_ctl("stop", "-m", "immediate", "-w", "-t", "60")

    def start(self) -> None:
        self._pg_ctl("start", "-w", "-t", "120", "-l", str(self.log_file), "-o", self._options_kept)
        self._record_pid()

    def _record_pid(self) -> None:
        pid = (self.data / "postmaster.pid").read_text().splitlines()[0]
        (self.dir / "pids" / "postgres").write_text(f"{pid}\n")

    def log_size(self) -> int:
        return self.log_file.stat().st_size

    def log_since(self, offset: int) -> str:
        with self.log_file.open("rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace")
