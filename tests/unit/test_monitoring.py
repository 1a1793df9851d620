"""The monitoring sources in monitoring/: alert rules checked and unit-tested with promtool,
their annotations and runbook anchors, the Grafana dashboard's structure, and the README's
metrics table against the metrics the operator registers. promtool comes from Debian's
`prometheus` package (.ci/run installs it). The dashboard's queries are run against a real
Prometheus in tests/e2e/test_prometheus.py; the manifests are dry-run in
tests/e2e/test_monitoring_manifests.py.
"""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

import pytest
import yaml

from dbindex_operator.runtime import metrics, object_series
from tests.harness import HarnessError
from tests.harness.env import REPO_ROOT
from tests.harness.prometheus import ALERT_TESTS, ALERTS, DASHBOARD, binary

RUNBOOK = REPO_ROOT / "docs" / "runbook.md"
README = REPO_ROOT / "README.md"
SEVERITIES = {"critical", "warning", "info"}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    try:
        command = binary("promtool")
    except HarnessError as exc:
        pytest.fail(str(exc))
    return subprocess.run(
        [command, *args], capture_output=True, text=True, timeout=120, check=False
    )


def rules() -> list[dict[str, Any]]:
    return [
        rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]
    ]


def anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes."""
    return {
        re.sub(r"[^a-z0-9 _-]", "", heading.strip().lower()).replace(" ", "-")
        for heading in re.findall(r"^#+ (.+)$", markdown, re.M)
    }


def test_promtool_check_rules() -> None:
    result = promtool("check", "rules", str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules())} rules found" in result.stdout


def test_promtool_test_rules() -> None:
    result = promtool("test", "rules", str(ALERT_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_firing_and_a_silent_case() -> None:
    cases: dict[str, list[list[Any]]] = {}
    for test in yaml.safe_load(ALERT_TESTS.read_text())["tests"]:
        for case in test.get("alert_rule_test", ()):
            cases.setdefault(case["alertname"], []).append(case.get("exp_alerts") or [])
    for rule in rules():
        found = cases.get(rule["alert"], [])
        assert any(found), f"{rule['alert']}: no promtool case where it fires"
        assert any(not expected for expected in found), (
            f"{rule['alert']}: no case where it must not"
        )


@pytest.mark.parametrize("rule", rules(), ids=lambda rule: rule["alert"])
def test_alert_annotations(rule: dict[str, Any]) -> None:
    assert rule["labels"]["severity"] in SEVERITIES
    notes = rule["annotations"]
    assert set(notes) == {"summary", "description", "runbook_url"}
    if rule["alert"] != "DBIndexOperatorDown":  # the others are about one object: name it
        for text in (notes["summary"], notes["description"]):
            assert "{{ $labels.namespace }}/{{ $labels.name }}" in text, text
    page, _, anchor = notes["runbook_url"].partition("#")
    assert page == "docs/runbook.md"
    assert anchor == rule["alert"].lower()
    assert anchor in anchors(RUNBOOK.read_text()), f"docs/runbook.md has no section #{anchor}"


# -- the dashboard --------------------------------------------------------------------------------

DASHBOARD_JSON: dict[str, Any] = json.loads(DASHBOARD.read_text())
PANELS = [panel for panel in DASHBOARD_JSON["panels"] if panel["type"] != "row"]
# What the issue asks the dashboard to show: a panel title for each.
REQUIRED_PANELS = [
    "Objects by phase",
    "Builds in progress",
    "Build duration p50 / p95",
    "Build failures by SQLSTATE class",
    "Retries",
    "INVALID leftovers dropped",
    "Status patches per second",
    "Catalog queries per second",
    "Index size",
    "Index scans",
]
# Metrics without a namespace label: their panels cannot filter by $namespace.
CLUSTER_WIDE = ("dbindex_status_patches_total", "dbindex_catalog_queries_total", "up{")


def test_dashboard_template_variables() -> None:
    variables = {v["name"]: v for v in DASHBOARD_JSON["templating"]["list"]}
    assert set(variables) == {"datasource", "namespace"}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    namespace = variables["namespace"]
    assert namespace["type"] == "query"
    assert namespace["datasource"]["uid"] == "${datasource}"
    assert namespace["query"]["query"] == "label_values(dbindex_object_phase, namespace)"
    assert namespace["multi"] and namespace["includeAll"] and namespace["allValue"] == ".*"


def test_dashboard_panels() -> None:
    titles = [panel["title"] for panel in PANELS]
    assert [title for title in REQUIRED_PANELS if title not in titles] == []
    ids = [panel["id"] for panel in DASHBOARD_JSON["panels"]]
    assert len(ids) == len(set(ids))
    for panel in PANELS:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["description"], panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
            expr = target["expr"]
            if not any(metric in expr for metric in CLUSTER_WIDE):
                assert 'namespace=~"$namespace"' in expr, f"{panel['title']}: {expr}"


# -- metrics: the README's table is what the operator registers -----------------------------------


def registered_metrics() -> set[str]:
    names = set()
    for value in vars(metrics).values():
        describe = getattr(value, "describe", None)
        if callable(describe) and type(value).__module__.startswith("prometheus_client"):
            for family in describe():
                suffix = "_total" if family.type == "counter" else ""
                names.add(family.name + suffix)
    # The per-object series are rendered by runtime/object_series.py, not client metrics.
    names.update(family.name for family in object_series.REGISTRY.collect())
    return names


def readme_metrics() -> set[str]:
    section = README.read_text().split("### Metrics", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `(dbindex_[a-z_]+)` \|", section, re.M))


def test_readme_lists_every_metric() -> None:
    assert readme_metrics() == registered_metrics()
