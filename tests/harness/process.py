"""The operator under test: ``dbindex-operator run`` as a subprocess, exactly as users start it,
logging to a file, with its Prometheus endpoint on a free loopback port."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.harness import HarnessError
from tests.harness.env import REPO_ROOT

SampleKey = tuple[str, tuple[tuple[str, str], ...]]
"""(sample name, sorted labels)"""
Samples = dict[SampleKey, float]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def operator_binary() -> Path:
    """The ``dbindex-operator`` console script of the running venv (else the repository's)."""
    for candidate in (
        Path(sys.executable).parent / "dbindex-operator",
        REPO_ROOT / ".venv" / "bin" / "dbindex-operator",
    ):
        if candidate.is_file():
            return candidate
    raise HarnessError("dbindex-operator is not installed (make venv)")


def parse_metrics(text: str) -> Samples:
    """Prometheus text -> {(sample name, sorted labels): value}."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def metric_sum(samples: Mapping[SampleKey, float], name: str, **labels: str) -> float:
    """Sum of the samples called ``name`` whose labels include ``labels``."""
    total = 0.0
    for (sample_name, sample_labels), value in samples.items():
        if sample_name == name and all(item in sample_labels for item in labels.items()):
            total += value
    return total


class Operator:
    """One operator process.

    ``namespaces``: ``--namespace`` patterns (none: ``-A``); ``settings``: DBINDEX_* variables
    on top of ``env``; ``log_level``: ``--log-level`` (none: the CLI's default); ``args``: more
    ``run`` options (``--peering NAME``, ``--selector ...``). The log is ``log_dir/<name>.log``,
    appended to by every start.
    """

    def __init__(
        self,
        env: Mapping[str, str],
        log_dir: Path,
        *,
        namespaces: Iterable[str] = (),
        settings: Mapping[str, str] | None = None,
        log_level: str | None = None,
        name: str = "operator",
        args: Iterable[str] = (),
    ) -> None:
        self.metrics_port = free_port()
        self.env = {
            **env,
            **(settings or {}),
            "DBINDEX_METRICS_PORT": str(self.metrics_port),
            "DBINDEX_METRICS_ADDRESS": "127.0.0.1",
        }
        self.namespaces = list(namespaces)
        self.log_level = log_level
        self.args = list(args)
        self.log_path = log_dir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.starts = 0

    @property
    def command(self) -> list[str]:
        command = [str(operator_binary()), "run"]
        if self.namespaces:
            for pattern in self.namespaces:
                command += ["--namespace", pattern]
        else:
            command.append("-A")
        if self.log_level:
            command += ["--log-level", self.log_level]
        return command + self.args

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, wait: bool = True) -> float:
        """Start; with ``wait``, return once the metrics endpoint answers. Returns the monotonic
        time just before the process was spawned."""
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"\n===== start #{self.starts}: {' '.join(self.command)} =====\n".encode())
            log.flush()
            self.started_at = time.monotonic()
            self.process = subprocess.Popen(
                self.command, env=self.env, stdout=log, stderr=log, cwd=REPO_ROOT
            )
        if wait:
            self.wait_metrics()
        return self.started_at

    def wait_metrics(self, timeout: float = 300) -> float:
        """Wait until the metrics endpoint answers; return the monotonic time it did. Generous:
        on a loaded 2-core machine (`make matrix` at nice 15 beside other work) importing the
        operator alone took over 60 s."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.metrics()
                return time.monotonic()
            except OSError:
                self.check_alive()
                time.sleep(0.1)
        raise HarnessError(f"the operator's metrics endpoint did not answer:\n{self.tail()}")

    def check_alive(self) -> None:
        if self.process is None or self.process.poll() is not None:
            code = None if self.process is None else self.process.returncode
            raise HarnessError(f"the operator exited ({code}):\n{self.tail()}")

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        """SIGKILL: no chance to clean up."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log()[-chars:]
        except OSError:
            return ""

    def metrics(self) -> str:
        """The metrics endpoint's text."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text: str = response.read().decode()
            return text

    def scrape(self) -> Samples:
        return parse_metrics(self.metrics())

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of ``name`` whose labels include ``labels``."""
        return metric_sum(self.scrape(), name, **labels)
