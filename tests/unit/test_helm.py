"""The Helm chart in charts/dbindex-operator, read without Helm: its metadata, and the values
fixture the rendering tests use (tests/e2e/test_helm.py renders the chart with the Helm built for
the local environment; tests/unit/test_generated.py checks the chart's copy of the CRD)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "dbindex-operator"
ALL_VALUES = ROOT / "tests" / "fixtures" / "helm" / "all-values.yaml"


def leaf_paths(values: Any, prefix: str = "") -> set[str]:
    """Dotted paths of every value; maps with content are walked, lists and {} are leaves."""
    if isinstance(values, dict) and values:
        return {
            path for key, value in values.items() for path in leaf_paths(value, f"{prefix}{key}.")
        }
    return {prefix.rstrip(".")}


def test_all_values_fixture_sets_every_value() -> None:
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    every = yaml.safe_load(ALL_VALUES.read_text())
    missing = {
        path
        for path in leaf_paths(defaults)
        if not any(p == path or p.startswith(f"{path}.") for p in leaf_paths(every))
    }
    assert not missing, f"tests/fixtures/helm/all-values.yaml leaves out {sorted(missing)}"


def test_chart_versions() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    assert chart["version"] == "0.1.0"
    assert chart["appVersion"] == "0.1.0"
