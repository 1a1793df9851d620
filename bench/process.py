"""The operator under test: `dbindex-operator run -A` as a subprocess, exactly as users start it,
with its metrics endpoint on a free loopback port; its RSS and CPU read from /proc."""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from bench.cluster import BenchError
from bench.env import REPO_ROOT

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def operator_binary() -> Path:
    """The `dbindex-operator` console script of the venv running the bench."""
    for candidate in (
        Path(sys.executable).parent / "dbindex-operator",
        REPO_ROOT / ".venv" / "bin" / "dbindex-operator",
    ):
        if candidate.is_file():
            return candidate
    raise BenchError("dbindex-operator is not installed (make venv)")


@dataclasses.dataclass(frozen=True)
class ProcSample:
    """CPU time (user + system, seconds) and memory (kB) of one process at one moment."""

    at: float  # monotonic
    cpu_seconds: float
    rss_kb: int
    hwm_kb: int


def proc_sample(pid: int) -> ProcSample:
    """utime + stime from /proc/<pid>/stat, VmRSS and VmHWM from /proc/<pid>/status."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    status = Path(f"/proc/{pid}/status").read_text()
    return ProcSample(time.monotonic(), parse_cpu_seconds(stat), *parse_memory_kb(status))


def parse_cpu_seconds(stat: str) -> float:
    """utime + stime (fields 14 and 15) of a /proc/<pid>/stat line, in seconds."""
    # The command name (field 2) is in parentheses and may contain spaces: split after it.
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14, 15 counted from 1
    return (utime + stime) / CLOCK_TICKS


def parse_memory_kb(status: str) -> tuple[int, int]:
    """(VmRSS, VmHWM) in kB from /proc/<pid>/status."""
    values = {}
    for line in status.splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values["VmRSS"], values["VmHWM"]


def control_plane_cpu(env: Mapping[str, str]) -> dict[str, float]:
    """CPU seconds used so far by the local kube-apiserver and etcd (from the PID files of
    hack/up.sh); empty where unknown. Deltas tell how much of the machine the API side took."""
    found: dict[str, float] = {}
    pid_dir = Path(env.get("DBINDEX_LOCAL_DIR", "")) / "pids"
    for name in ("kube-apiserver", "etcd"):
        try:
            pid = int((pid_dir / name).read_text().strip())
            found[name] = parse_cpu_seconds(Path(f"/proc/{pid}/stat").read_text())
        except (OSError, ValueError):
            continue
    return found


def parse_metrics(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Prometheus text -> {(sample name, sorted labels): value}."""
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def metric_sum(
    samples: Mapping[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    """Sum of the samples called `name` whose labels include `labels`."""
    total = 0.0
    for (sample_name, sample_labels), value in samples.items():
        if sample_name == name and all(item in sample_labels for item in labels.items()):
            total += value
    return total


class Operator:
    """One operator process. `settings` are DBINDEX_* variables on top of the defaults."""

    def __init__(
        self,
        env: dict[str, str],
        log_dir: Path,
        *,
        namespaces: Iterable[str] = (),
        settings: Mapping[str, str] | None = None,
        name: str = "operator",
    ) -> None:
        self.port = free_port()
        self.env = {
            **env,
            **(settings or {}),
            "DBINDEX_METRICS_PORT": str(self.port),
            "DBINDEX_METRICS_ADDRESS": "127.0.0.1",
        }
        self.namespaces = list(namespaces)
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
        return command

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, wait: bool = True) -> float:
        """Start; with `wait`, return once the metrics endpoint answers. Returns the monotonic
        time just before the process was spawned."""
        self.starts += 1
        log = self.log_path.open("ab")
        log.write(f"\n===== start #{self.starts}: {' '.join(self.command)} =====\n".encode())
        log.flush()
        self.started_at = time.monotonic()
        self.process = subprocess.Popen(
            self.command, env=self.env, stdout=log, stderr=log, cwd=REPO_ROOT
        )
        log.close()
        if wait:
            self.wait_metrics()
        return self.started_at

    def wait_metrics(self, timeout: float = 60) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.scrape()
                return time.monotonic()
            except OSError:
                self.check_alive()
                time.sleep(0.1)
        raise BenchError(f"the operator's metrics endpoint did not answer:\n{self.tail()}")

    def check_alive(self) -> None:
        if self.process is None or self.process.poll() is not None:
            code = None if self.process is None else self.process.returncode
            raise BenchError(f"the operator exited ({code}):\n{self.tail()}")

    def stop(self, timeout: float = 30) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def scrape(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        url = f"http://127.0.0.1:{self.port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            return parse_metrics(response.read().decode())

    def metric(self, name: str, **labels: str) -> float:
        return metric_sum(self.scrape(), name, **labels)

    def sample(self) -> ProcSample:
        self.check_alive()
        return proc_sample(self.pid)

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""
