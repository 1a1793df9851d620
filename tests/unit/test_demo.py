"""The copyable examples (examples/*.yaml), read without a server: one per feature, each what its
comment says. tests/e2e/test_demo.py applies them to the real API server and runs `make demo`."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dbindex_operator.core import spec, sql

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
FEATURE_EXAMPLES = ["partial", "expression", "unique", "include", "gin"]


def documents(path: Path) -> list[dict[str, object]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _statement_in_comment(path: Path) -> str:
    """The SQL under "# The operator runs:" in the example's header comment, on one line."""
    lines = path.read_text().splitlines()
    start = lines.index("# The operator runs:") + 2
    end = lines.index("#", start)
    return " ".join(" ".join(line.lstrip("#").split()) for line in lines[start:end])


# --- the examples ----------------------------------------------------------------------------


def test_every_feature_has_an_example() -> None:
    names = {p.stem for p in EXAMPLES}
    assert set(FEATURE_EXAMPLES) <= names


@pytest.mark.parametrize("name", FEATURE_EXAMPLES)
def test_example_is_what_its_comment_says(name: str) -> None:
    """Each feature example holds one DatabaseIndex that the operator accepts, and the statement
    in its header comment is the one the operator runs."""
    path = ROOT / "examples" / f"{name}.yaml"
    (document,) = documents(path)
    assert document["kind"] == "DatabaseIndex"
    metadata, body = document["metadata"], document["spec"]
    assert isinstance(metadata, dict) and isinstance(body, dict)
    parsed = spec.parse(body, object_name=metadata["name"])
    assert _statement_in_comment(path) == sql.create_index(parsed)
