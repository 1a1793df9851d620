"""Reading DatabaseIndex manifests for the `plan` command: files, directories (*.yaml, *.yml) and
standard input, multi-document YAML and Lists, each spec parsed as the operator parses it."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, TextIO

import yaml

from dbindex_operator.core import errors, settings
from dbindex_operator.core import spec as specs

DEFAULT_NAMESPACE: Final = "default"
STDIN: Final = "-"
_SUFFIXES: Final = (".yaml", ".yml")


class UsageError(Exception):
    """The command cannot run at all: exit 1 with this message."""


@dataclasses.dataclass(frozen=True)
class Manifest:
    """One DatabaseIndex document: its spec parsed, or why it cannot be."""

    namespace: str
    name: str
    spec: specs.IndexSpec | None
    error: str | None = None

    @property
    def label(self) -> str:
        return f"{self.namespace}/{self.name}"


def read_sources(paths: Sequence[str], stdin: TextIO) -> list[tuple[str, str]]:
    """(label, text) of every input: a file, each *.yaml/*.yml of a directory (sorted), or
    standard input for -. Raises UsageError for what cannot be read."""
    sources = []
    for path in paths:
        if path == STDIN:
            sources.append(("<stdin>", stdin.read()))
            continue
        found = Path(path)
        files = [found]
        if found.is_dir():
            files = sorted(f for f in found.iterdir() if f.suffix in _SUFFIXES and f.is_file())
        for file in files:
            try:
                sources.append((str(file), file.read_text(encoding="utf-8")))
            except (OSError, UnicodeDecodeError) as exc:
                raise UsageError(f"cannot read {file}: {exc}") from None
    return sources


def load(sources: Iterable[tuple[str, str]], namespace: str | None = None) -> list[Manifest]:
    """The DatabaseIndex documents of the sources, in order (a List's items included), each
    spec parsed as the operator parses it. Raises UsageError for YAML that does not parse, a
    document that is not a mapping, or a namespace other than `namespace` (as kubectl -n)."""
    manifests = []
    for label, text in sources:
        try:
            documents = list(yaml.safe_load_all(text))
        except yaml.YAMLError as exc:
            raise UsageError(f"{label}: not valid YAML: {exc}") from None
        for document in _flatten(documents, label):
            manifests.append(_manifest(document, label, namespace))
    return manifests


def _flatten(documents: Iterable[Any], label: str) -> Iterable[Mapping[str, Any]]:
    for document in documents:
        if document is None:
            continue
        if not isinstance(document, Mapping):
            raise UsageError(f"{label}: a document is not a mapping")
        if document.get("kind") == "List" and isinstance(document.get("items"), list):
            yield from _flatten(document["items"], label)
        elif document.get("kind") == settings.KIND and str(
            document.get("apiVersion", "")
        ).startswith(f"{settings.GROUP}/"):
            yield document


def _manifest(document: Mapping[str, Any], label: str, namespace: str | None) -> Manifest:
    metadata = document.get("metadata") or {}
    own = metadata.get("namespace") if isinstance(metadata, Mapping) else None
    if own and namespace and own != namespace:
        raise UsageError(
            f"{label}: the namespace of {own}/{metadata.get('name')} does not match -n {namespace}"
        )
    ns = str(own or namespace or DEFAULT_NAMESPACE)
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    if not name or not isinstance(name, str):
        return Manifest(ns, "<unnamed>", None, f"{label}: metadata.name is missing")
    spec = document.get("spec")
    if not isinstance(spec, Mapping):
        return Manifest(ns, name, None, "spec is missing")
    try:
        return Manifest(ns, name, specs.parse(spec, object_name=name))
    except errors.SpecError as exc:
        return Manifest(ns, name, None, exc.message)
