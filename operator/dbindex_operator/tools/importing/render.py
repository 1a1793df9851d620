"""Everything in a manifest besides its spec, and the YAML text out: the envelope (apiVersion,
kind, metadata), ``metadata.name`` derived from the index name and kept unique in the output,
the SQL comments directly above a statement as the ``dbindex.dev/description`` annotation (and,
for a migration tree, ``dbindex.dev/source`` and ``dbindex.dev/migration``), and
the ``---``-separated YAML stream with multi-line text as readable ``|`` blocks."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Final, TextIO

import yaml

from dbindex_operator.core import settings
from dbindex_operator.tools.importing.parse import COMMENTS, SourceFile

DESCRIPTION_ANNOTATION: Final = f"{settings.GROUP}/description"
SOURCE_ANNOTATION: Final = f"{settings.GROUP}/source"
MIGRATION_ANNOTATION: Final = f"{settings.GROUP}/migration"

_MAX_NAME_LENGTH: Final = 63  # metadata.name is kept to a DNS-1123 label
_NOT_IN_LABEL: Final = re.compile(r"[^a-z0-9-]")


def manifest(
    spec: dict[str, Any],
    *,
    name: str,
    namespace: str | None,
    description: str,
    source: str | None = None,
    migration: str | None = None,
) -> dict[str, Any]:
    """The DatabaseIndex object around ``spec``; an empty description adds no annotation, and
    ``source`` (``FILE:LINE``) and ``migration`` (its version) are annotations when given."""
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    annotations = {
        DESCRIPTION_ANNOTATION: description,
        SOURCE_ANNOTATION: source,
        MIGRATION_ANNOTATION: migration,
    }
    if any(annotations.values()):
        metadata["annotations"] = {k: v for k, v in annotations.items() if v}
    return {
        "apiVersion": f"{settings.GROUP}/{settings.VERSION}",
        "kind": settings.KIND,
        "metadata": metadata,
        "spec": spec,
    }


def base_name(index_name: str) -> str:
    """A DNS-1123 label from the index name: lowercase, ``_`` -> ``-``, other characters dropped."""
    name = _NOT_IN_LABEL.sub("", index_name.lower().replace("_", "-"))
    return name[:_MAX_NAME_LENGTH].strip("-") or "index"


def unique_name(base: str, taken: set[str]) -> str:
    """``base``, or ``base-2``, ``base-3``, ... (still at most 63 characters), whichever is not in
    ``taken`` yet; it is added to ``taken``."""
    name, n = base, 1
    while name in taken:
        n += 1
        suffix = f"-{n}"
        name = base[: _MAX_NAME_LENGTH - len(suffix)].rstrip("-") + suffix
    taken.add(name)
    return name


def description(file: SourceFile, first: int) -> str:
    """The comments directly above the statement's first token: a run of comments each on its own
    line(s), with no blank line between them or before the statement."""
    texts: list[str] = []
    boundary = file.tokens[first].start if first < len(file.tokens) else len(file.sql)
    i = first - 1
    while i >= 0 and file.tokens[i].name in COMMENTS:
        token = file.tokens[i]
        if file.sql.count("\n", token.end + 1, boundary) > 1:
            break  # a blank line: the comment belongs to something else
        line_start = file.sql.rfind("\n", 0, token.start) + 1
        if file.sql[line_start : token.start].strip():
            break  # a trailing comment of the previous statement
        texts.insert(0, comment_text(file.text(token, token)))
        boundary, i = token.start, i - 1
    lines = "\n".join(texts).split("\n")
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


def comment_text(raw: str) -> str:
    """A comment's words: without ``--`` or ``/* */`` and the ``*`` that starts a block's lines."""
    if raw.startswith("--"):
        return raw.lstrip("-").strip()
    lines = [line.strip() for line in raw[2:-2].split("\n")]
    return "\n".join(line[1:].strip() if line.startswith("*") else line for line in lines)


def dump(manifests: Sequence[dict[str, Any]], stream: TextIO) -> None:
    """Write ``manifests`` as a ``---``-separated YAML stream."""
    yaml.dump_all(
        manifests,
        stream,
        Dumper=_Dumper,
        sort_keys=False,
        explicit_start=True,
        allow_unicode=True,
        width=1_000_000,  # never fold long predicates across lines
    )


class _Dumper(yaml.SafeDumper):
    """SafeDumper that writes multi-line strings (descriptions, predicates) as ``|`` blocks."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)
