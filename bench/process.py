"""The operator under test (tests/harness/process.py: `dbindex-operator run` as a subprocess,
exactly as users start it, its metrics on a free loopback port), plus its RSS and CPU, and the
control plane's CPU, read from /proc."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Mapping
from pathlib import Path

from tests.harness import process

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


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


class Operator(process.Operator):
    """The harness's operator process, measured: `sample()` reads its CPU time and memory."""

    def sample(self) -> ProcSample:
        self.check_alive()
        return proc_sample(self.pid)
