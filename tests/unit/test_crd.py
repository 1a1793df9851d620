"""The DatabaseIndex CRD file itself: what the API server cannot tell us (descriptions everywhere,
bounded strings and arrays, no unknown fields) and that examples/full.yaml uses every field.
tests/e2e/test_crd.py checks the CRD against a real API server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CRD_FILE = ROOT / "crds" / "databaseindexes.dbindex.dev.yaml"
FULL_EXAMPLE = ROOT / "examples" / "full.yaml"

Json = dict[str, Any]


def load_crd() -> Json:
    return yaml.safe_load(CRD_FILE.read_text())  # type: ignore[no-any-return]


def load_full_example() -> Json:
    return yaml.safe_load(FULL_EXAMPLE.read_text())  # type: ignore[no-any-return]


def openapi_schema() -> Json:
    (version,) = load_crd()["spec"]["versions"]
    return version["schema"]["openAPIV3Schema"]  # type: ignore[no-any-return]


def walk(schema: Json, path: str = "") -> Iterator[tuple[str, Json]]:
    """Yield (path, schema) for every node of an OpenAPI schema, the root included."""
    yield path, schema
    for name, child in schema.get("properties", {}).items():
        yield from walk(child, f"{path}.{name}")
    if "items" in schema:
        yield from walk(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from walk(schema["additionalProperties"], f"{path}{{}}")


# --- The file itself -------------------------------------------------------------------------


def test_every_field_has_a_description() -> None:
    missing = [
        path or "<root>"
        for path, node in walk(openapi_schema())
        if not path.startswith(".metadata") and not node.get("description")
    ]
    assert missing == []


def test_no_field_preserves_unknown_fields() -> None:
    assert "x-kubernetes-preserve-unknown-fields" not in CRD_FILE.read_text()


def test_spec_strings_and_arrays_are_bounded() -> None:
    """Bounds keep the estimated cost of the CEL rules low and reject absurd input early."""
    spec = openapi_schema()["properties"]["spec"]
    unbounded = [
        path
        for path, node in walk(spec, ".spec")
        if (node.get("type") == "string" and "maxLength" not in node and "enum" not in node)
        or (node.get("type") == "array" and "maxItems" not in node)
        or (isinstance(node.get("additionalProperties"), dict) and "maxProperties" not in node)
    ]
    assert unbounded == []


def test_full_example_sets_every_spec_field() -> None:
    def unset(schema: Json, value: Any, path: str) -> Iterator[str]:
        if schema.get("type") == "object" and "properties" in schema:
            for name, child in schema["properties"].items():
                if name not in value:
                    yield f"{path}.{name}"
                else:
                    yield from unset(child, value[name], f"{path}.{name}")
        elif schema.get("type") == "array" and "properties" in schema["items"]:
            # Each item field must appear in at least one item.
            merged = {key: item[key] for item in value for key in item}
            yield from unset(schema["items"], merged, f"{path}[]")

    spec_schema = openapi_schema()["properties"]["spec"]
    assert list(unset(spec_schema, load_full_example()["spec"], ".spec")) == []
