"""What the Helm chart ships, read from its values.yaml: the p4 benchmark fails its target when
the operator's peak memory exceeds the limit users get."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from tests.harness.env import REPO_ROOT

VALUES = REPO_ROOT / "charts" / "dbindex-operator" / "values.yaml"
_UNITS = {
    "": 1 / 2**20,
    "Ki": 1 / 1024,
    "Mi": 1.0,
    "Gi": 1024.0,
    "k": 1e3 / 2**20,
    "M": 1e6 / 2**20,
    "G": 1e9 / 2**20,
}


def memory_mb(quantity: str) -> float:
    """A Kubernetes memory quantity ("512Mi", "1Gi", "400M") in MiB."""
    found = re.fullmatch(r"\s*([0-9.]+)\s*([KMG]i|[kMG])?\s*", str(quantity))
    if found is None:
        raise ValueError(f"not a memory quantity: {quantity!r}")
    return round(float(found.group(1)) * _UNITS[found.group(2) or ""], 1)


def memory_limit_mb(values: Path = VALUES) -> float:
    """resources.limits.memory of the chart's values, in MiB."""
    document = yaml.safe_load(values.read_text())
    return memory_mb(document["resources"]["limits"]["memory"])
