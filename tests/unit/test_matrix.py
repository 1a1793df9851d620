"""hack/matrix.env (what `make matrix` runs), docs/compatibility.md and the README's requirements
(what we say we tested) list the same combinations; the default combination is among them and
is the one CI runs."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MATRIX = REPO / "hack" / "matrix.env"
DOC = REPO / "docs" / "compatibility.md"
VERSIONS = REPO / "hack" / "versions.env"


def matrix_combinations() -> list[tuple[str, str]]:
    """(Kubernetes without the v, PostgreSQL major) per line of hack/matrix.env."""
    found = []
    for line in MATRIX.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        pairs = dict(pair.split("=", 1) for pair in line.split())
        assert set(pairs) == {"K8S_VERSION", "PG_VERSION"}, line
        found.append((pairs["K8S_VERSION"].removeprefix("v"), pairs["PG_VERSION"]))
    return found


def documented_combinations(doc: Path = DOC) -> list[tuple[str, str]]:
    """(Kubernetes, PostgreSQL) per row of the results table in `doc`."""
    rows = re.findall(r"^\| (\d+\.\d+\.\d+) \| (\d+) \|", doc.read_text(), flags=re.MULTILINE)
    return [(k8s, pg) for k8s, pg in rows]


def default(name: str) -> str:
    match = re.search(rf'^{name}="\$\{{{name}:-v?([^}}]+)\}}"', VERSIONS.read_text(), re.M)
    assert match, f"{name} has no default in hack/versions.env"
    return match.group(1)


def test_matrix_and_docs_list_the_same_combinations() -> None:
    combinations = matrix_combinations()
    assert len(combinations) == len(set(combinations)), "a combination is listed twice"
    assert sorted(documented_combinations()) == sorted(combinations)
    assert sorted(documented_combinations(REPO / "README.md")) == sorted(combinations)


def test_every_minor_and_major_of_the_promise() -> None:
    combinations = set(matrix_combinations())
    k8s, pg = default("K8S_VERSION"), default("PG_VERSION")
    assert (k8s, pg) in combinations, "the default combination (CI's) is in the matrix"
    minors = {v.rsplit(".", 1)[0] for v, p in combinations if p == pg}
    assert minors == {"1.34", "1.35", "1.36", "1.37"}
    assert {p for v, p in combinations if v == k8s} == {"14", "15", "16", "17", "18"}


def test_every_bundled_major_is_pinned() -> None:
    versions = VERSIONS.read_text()
    for _, pg in matrix_combinations():
        assert re.search(rf"^PG_PACKAGE_{pg}={pg}\.", versions, re.M), pg


def test_ci_runs_only_the_default_combination() -> None:
    ci = (REPO / ".ci" / "run").read_text()
    assert "matrix" not in ci and "K8S_VERSION" not in ci and "PG_VERSION" not in ci
