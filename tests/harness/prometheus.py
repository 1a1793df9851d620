"""A real Prometheus server (Debian's `prometheus` binary) on a free loopback port, scraping the
operator under test, evaluating rule files, and answering through its HTTP API.

Also where the monitoring sources live (monitoring/) and how the prometheus-operator CRDs are
fetched (hack/monitoring-crds.sh) and installed into the local API server.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from tests.harness import HarnessError
from tests.harness.env import REPO_ROOT, hack_path
from tests.harness.kube import kubectl
from tests.harness.process import free_port

MONITORING = REPO_ROOT / "monitoring"
ALERTS = MONITORING / "alerts.yaml"
ALERT_TESTS = MONITORING / "alerts.test.yaml"
DASHBOARD = MONITORING / "dashboard.json"
JOB = "dbindex-operator"
"""The job name the alert rules select (the PodMonitor relabels to it)."""
MONITORING_CRDS = ("podmonitors", "prometheusrules")
INSTALL_HINT = "install Debian's prometheus package (apt-get install prometheus; .ci/run does)"


def binary(name: str) -> str:
    """Path of `prometheus` or `promtool`; HarnessError saying how to install it if missing."""
    found = shutil.which(name)
    if found is None:
        raise HarnessError(f"{name} is not on PATH: {INSTALL_HINT}")
    return found


def monitoring_crds_dir() -> Path:
    """prometheus-operator's CRD manifests, fetched once per machine (hack/monitoring-crds.sh)."""
    return hack_path("monitoring-crds.sh", timeout=600)


def install_monitoring_crds(env: Mapping[str, str]) -> list[str]:
    """Install the PodMonitor and PrometheusRule CRDs into the API server of `env`; wait until
    Established. Server-side apply: these CRDs are too big for the last-applied annotation."""
    directory = monitoring_crds_dir()
    names = []
    for plural in MONITORING_CRDS:
        path = directory / f"monitoring.coreos.com_{plural}.yaml"
        kubectl(env, "apply", "--server-side", "--force-conflicts", "-f", str(path), timeout=120)
        names.append(f"{plural}.monitoring.coreos.com")
    kubectl(
        env, "wait", "--for=condition=Established", "--timeout=60s", *(f"crd/{n}" for n in names)
    )
    return names


def alert_rules(**for_overrides: str) -> dict[str, Any]:
    """monitoring/alerts.yaml, with the `for` of the named alerts replaced (a test copy)."""
    rules: dict[str, Any] = yaml.safe_load(ALERTS.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") in for_overrides:
                rule["for"] = for_overrides[rule["alert"]]
    return rules


class Prometheus:
    """One Prometheus process with its own config, TSDB and log under `workdir`.

    `targets`: host:port of the operator's metrics endpoints (job dbindex-operator, every
    `interval`, honor_labels as the PodMonitor sets it); `rules`: rule-file contents.
    """

    def __init__(
        self,
        workdir: Path,
        targets: Sequence[str],
        rules: Mapping[str, Any] | None = None,
        interval: str = "1s",
    ) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "prometheus.log"
        self.process: subprocess.Popen[bytes] | None = None
        config: dict[str, Any] = {
            "global": {"scrape_interval": interval, "evaluation_interval": interval},
            "scrape_configs": [
                {
                    "job_name": JOB,
                    "honor_labels": True,
                    "static_configs": [{"targets": list(targets)}],
                }
            ],
        }
        if rules is not None:
            (workdir / "rules.yaml").write_text(yaml.safe_dump(dict(rules), sort_keys=False))
            config["rule_files"] = [str(workdir / "rules.yaml")]
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))

    def start(self, timeout: float = 60) -> None:
        command = [
            binary("prometheus"),
            f"--config.file={self.workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=log, cwd=self.workdir)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise HarnessError(f"prometheus exited ({self.process.returncode}):\n{self.tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise HarnessError(f"prometheus was not ready within {timeout}s:\n{self.tail()}")

    def stop(self, timeout: float = 30) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def api(self, path: str, **params: str | float) -> Any:
        """GET /api/v1/<path>; the `data` of a successful answer (HarnessError otherwise)."""
        query = urllib.parse.urlencode({k: str(v) for k, v in params.items()})
        url = f"{self.url}/api/v1/{path}" + (f"?{query}" if query else "")
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                body = json.load(response)
        except urllib.error.HTTPError as exc:
            raise HarnessError(f"{url}: HTTP {exc.code}: {exc.read().decode()}") from exc
        if body.get("status") != "success":
            raise HarnessError(f"{url}: {body}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query now; its result list."""
        result: list[dict[str, Any]] = self.api("query", query=expr)["result"]
        return result

    def query_range(self, expr: str, start: float, end: float, step: str = "1s") -> list[Any]:
        """A range query, as a dashboard panel evaluates it; its result list (series)."""
        result: list[Any] = self.api("query_range", query=expr, start=start, end=end, step=step)[
            "result"
        ]
        return result

    def series(self, selector: str, start: float) -> list[dict[str, str]]:
        params: dict[str, str | float] = {"match[]": selector, "start": start}
        result: list[dict[str, str]] = self.api("series", **params)
        return result

    def alerts(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.api("alerts")["alerts"]
        return result
