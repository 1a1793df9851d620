"""The values the importer's stages hand each other: the command-line options that go into every
manifest (and the check that the API server would accept them), the diagnostics and manifests
that come out, and the exception for a CREATE INDEX that no manifest can express."""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Final

DELETION_POLICIES: Final = ("Retain", "Delete")
DEFAULT_DELETION_POLICY: Final = "Retain"

_DNS_LABEL: Final = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS_SUBDOMAIN: Final = re.compile(rf"{_DNS_LABEL.pattern}(\.{_DNS_LABEL.pattern})*")
_SECRET_KEY: Final = re.compile(r"[-._a-zA-Z0-9]+")


@dataclasses.dataclass(frozen=True)
class Options:
    """The command-line choices that go into every manifest."""

    namespace: str | None
    secret: str
    key: str | None
    deletion_policy: str


def option_problems(options: Options) -> list[str]:
    """Why these options would produce manifests the API server rejects (empty if none)."""
    problems = []
    if options.namespace is not None and not _DNS_LABEL.fullmatch(options.namespace):
        problems.append(f"namespace {options.namespace!r} is not a valid DNS-1123 label")
    if len(options.secret) > 253 or not _DNS_SUBDOMAIN.fullmatch(options.secret):
        problems.append(f"secret {options.secret!r} is not a valid Secret name")
    if options.key is not None and not _SECRET_KEY.fullmatch(options.key):
        problems.append(f"key {options.key!r} is not a valid Secret key")
    if options.deletion_policy not in DELETION_POLICIES:
        choices = ", ".join(DELETION_POLICIES)
        problems.append(f"deletion policy {options.deletion_policy!r} is not one of {choices}")
    return problems


@dataclasses.dataclass(frozen=True)
class Diagnostic:
    """One line for standard error; ``line`` is None for file-level messages."""

    filename: str
    line: int | None
    message: str
    error: bool = False

    def __str__(self) -> str:
        where = self.filename if self.line is None else f"{self.filename}:{self.line}"
        return f"{where}: error: {self.message}" if self.error else f"{where}: {self.message}"


@dataclasses.dataclass
class ImportResult:
    """What one file turned into; diagnostics keep the order of the statements."""

    manifests: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    diagnostics: list[Diagnostic] = dataclasses.field(default_factory=list)

    @property
    def notes(self) -> list[str]:
        return [str(d) for d in self.diagnostics if not d.error]

    @property
    def errors(self) -> list[str]:
        return [str(d) for d in self.diagnostics if d.error]


class Inexpressible(Exception):
    """A CREATE INDEX that no DatabaseIndex manifest can express; the message says why."""
