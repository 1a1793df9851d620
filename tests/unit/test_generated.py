"""Generated files are up to date: what `make generate` (hack/generate.sh) writes is committed.

crds/ holds the one source of the CRD. Kustomize reads no file outside its root and Helm none
outside the chart, so deploy/base/crds/ and charts/dbindex-operator/files/ hold copies: each is
its source with one comment line on top. hack/generate.sh writes them into a temporary directory
here, and every committed copy must equal what it wrote, byte for byte. The same holds for the
copies of monitoring/ (alert rules, Grafana dashboard) in deploy/monitoring/ and the chart.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
GENERATE = ROOT / "hack" / "generate.sh"
SOURCES = sorted((ROOT / "crds").glob("*.yaml"))
TARGETS = ["deploy/base/crds", "charts/dbindex-operator/files"]
FIX = "edit crds/ (never the copies) and run `make generate`"


def generate(out_root: Path) -> str:
    result = subprocess.run(
        [str(GENERATE), str(out_root)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out_root = tmp_path_factory.mktemp("generated")
    generate(out_root)
    return out_root


def test_there_is_a_crd_source() -> None:
    assert "databaseindexes.dbindex.dev.yaml" in [p.name for p in SOURCES]


@pytest.mark.parametrize("target", TARGETS)
def test_each_copy_is_its_source_under_one_comment_line(generated: Path, target: str) -> None:
    for source in SOURCES:
        header, _, body = (generated / target / source.name).read_bytes().partition(b"\n")
        comment = f"# Generated from crds/{source.name}: edit that file and run `make generate`."
        assert header == comment.encode()
        assert body == source.read_bytes()


@pytest.mark.parametrize("target", TARGETS)
def test_committed_copies_are_up_to_date(generated: Path, target: str) -> None:
    for source in SOURCES:
        copy = ROOT / target / source.name
        assert copy.is_file(), f"{target}/{source.name} is missing: {FIX}"
        assert copy.read_bytes() == (generated / target / source.name).read_bytes(), (
            f"{target}/{source.name} differs from what crds/{source.name} generates: {FIX}"
        )
    orphans = [
        p.name
        for p in (ROOT / target).glob("*.yaml")
        if not (ROOT / "crds" / p.name).exists()
        and p.read_bytes().startswith(b"# Generated from crds/")
    ]
    assert not orphans, f"{target}/ holds copies of files no longer in crds/ {orphans}: {FIX}"


def test_generate_is_idempotent(tmp_path: Path) -> None:
    assert "wrote" in generate(tmp_path)
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.rglob("*.yaml")}
    assert generate(tmp_path) == ""
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.rglob("*.yaml")} == before


def test_generate_repairs_a_stale_copy_and_removes_an_orphan(tmp_path: Path) -> None:
    generate(tmp_path)
    copy = tmp_path / TARGETS[0] / SOURCES[0].name
    copy.write_text("edited by hand\n")
    orphan = tmp_path / TARGETS[1] / "gone.example.dev.yaml"
    orphan.write_text("# Generated from crds/gone.example.dev.yaml: edit that file and ...\n")
    kept = tmp_path / TARGETS[1] / "not-generated.yaml"
    kept.write_text("kind: Something\n")
    output = generate(tmp_path)
    assert f"wrote {TARGETS[0]}/{SOURCES[0].name}" in output
    assert copy.read_bytes().endswith(SOURCES[0].read_bytes())
    assert not orphan.exists()
    assert kept.exists()


# -- monitoring/: alert rules and dashboard -------------------------------------------------------

MONITORING_COPIES = [
    "deploy/monitoring/prometheusrule.yaml",
    "deploy/monitoring/grafana-dashboard.yaml",
    "charts/dbindex-operator/files/monitoring/alerts.yaml",
    "charts/dbindex-operator/files/monitoring/dashboard.json",
]
MONITORING_FIX = "edit monitoring/ (never the copies) and run `make generate`"


@pytest.mark.parametrize("copy", MONITORING_COPIES)
def test_committed_monitoring_copies_are_up_to_date(generated: Path, copy: str) -> None:
    assert (ROOT / copy).is_file(), f"{copy} is missing: {MONITORING_FIX}"
    assert (ROOT / copy).read_bytes() == (generated / copy).read_bytes(), (
        f"{copy} differs from what monitoring/ generates: {MONITORING_FIX}"
    )


def test_monitoring_copies_carry_their_source(generated: Path) -> None:
    alerts = yaml.safe_load((ROOT / "monitoring" / "alerts.yaml").read_text())
    dashboard = json.loads((ROOT / "monitoring" / "dashboard.json").read_text())
    rule = yaml.safe_load((generated / MONITORING_COPIES[0]).read_text())
    assert (rule["apiVersion"], rule["kind"]) == ("monitoring.coreos.com/v1", "PrometheusRule")
    assert rule["spec"] == alerts
    config_map = yaml.safe_load((generated / MONITORING_COPIES[1]).read_text())
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(config_map["data"]["dbindex-operator.json"]) == dashboard
    assert yaml.safe_load((generated / MONITORING_COPIES[2]).read_text()) == alerts
    assert json.loads((generated / MONITORING_COPIES[3]).read_text()) == dashboard


def test_generate_repairs_a_stale_monitoring_copy(tmp_path: Path) -> None:
    generate(tmp_path)
    copy = tmp_path / MONITORING_COPIES[0]
    copy.write_text("edited by hand\n")
    assert f"wrote {MONITORING_COPIES[0]}" in generate(tmp_path)
    assert copy.read_bytes() == (ROOT / MONITORING_COPIES[0]).read_bytes()
