"""``dbindex-operator plan``: what the operator would do about each DatabaseIndex manifest, and the
exact SQL, without doing any of it.

The decision is the operator's own pure code (core/plan.py decide and statements) on the catalog
as runtime/db.py reads it. This module holds the pure parts: the desired definition, the history
a live object implies, a decision as a report row, the exit code and the three renderings.
tools/manifests.py reads the manifests; tools/planning_live.py does the reads (Secrets, live
objects, the catalog, the rolled-back definition probe) and drives the command.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, Literal

import yaml

from dbindex_operator.core import catalog, definitions, errors, plan, policy
from dbindex_operator.core import spec as specs
from dbindex_operator.tools.manifests import DEFAULT_NAMESPACE as DEFAULT_NAMESPACE
from dbindex_operator.tools.manifests import STDIN as STDIN
from dbindex_operator.tools.manifests import Manifest as Manifest
from dbindex_operator.tools.manifests import UsageError as UsageError
from dbindex_operator.tools.manifests import load as load
from dbindex_operator.tools.manifests import read_sources as read_sources

EXIT_NOTHING: Final = 0
EXIT_PROBLEM: Final = 1
EXIT_INVALID: Final = 2
EXIT_CHANGES: Final = 3
OUTPUTS: Final = ("table", "json", "yaml")

HELP_EPILOG: Final = """\
Reads DatabaseIndex manifests (YAML, multi-document; a directory means every *.yaml and *.yml
in it, sorted; - for standard input; -f repeats) and prints, per manifest, what the operator
would do and the exact SQL it would run, decided by the operator's own code from the catalog.
Nothing is changed: the catalog is read, and a definition with expressions, a predicate or
options is checked on an empty scratch table in a transaction that is rolled back. Other kinds
of documents are skipped.

--dsn URI uses one database for every manifest. --from-cluster reads each manifest's Secret
(spec.connection.secretRef, in its namespace: metadata.namespace, else -n, else default) and
the live object, so that drift and updatePolicy are judged as the operator judges them.

Actions: build, adopt, replace, drop invalid leftover, wait, fail, nothing; error for a manifest
that is invalid or whose database cannot be reached. A paused manifest shows what would run
once it is unpaused.

Exit codes:
  0  no manifest would run any SQL
  3  at least one manifest would run SQL (paused ones included)
  2  a manifest is invalid (wins over 3)
  1  a usage problem, an unreadable file, a missing Secret or an unreachable database (wins
     over 2 and 3)
"""

Problem = Literal["invalid", "connection"]
INVALID: Final[Problem] = "invalid"
CONNECTION: Final[Problem] = "connection"


@dataclasses.dataclass(frozen=True)
class Row:
    """What the plan says about one manifest."""

    namespace: str
    name: str
    index: str  # schema.name ("" when the spec is invalid)
    action: str  # build, adopt, replace, drop invalid leftover, wait, fail, nothing, error
    detail: str
    statements: tuple[str, ...] = ()
    paused: bool = False
    problem: Problem | None = None

    @property
    def label(self) -> str:
        return f"{self.namespace}/{self.name}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "name": self.name,
            "index": self.index,
            "action": self.action,
            "detail": self.detail,
            "statements": list(self.statements),
            "paused": self.paused,
        }


# -- manifests --------------------------------------------------------------------------------


# -- deciding, as the scheduler does --------------------------------------------------------------


def desired_signature(spec: specs.IndexSpec) -> Mapping[str, Any] | None:
    """What Scheduler._decide starts from: the signature when the spec alone says it, else None
    (plan.decide then asks for a Probe if an index exists to compare with)."""
    return None if definitions.needs_probe(spec) else definitions.local_signature(spec)


def history_from_live(spec: specs.IndexSpec, live: Mapping[str, Any] | None) -> plan.History:
    """The history the operator has for the live object: managed (status.managed), and was_ready
    (Ready at the live generation) only when the manifest asks for what the live object does; a
    different spec gets a new generation, and a difference after it is no drift."""
    if live is None:
        return plan.History()
    status = live.get("status") or {}
    metadata = live.get("metadata") or {}
    ready_now = status.get("phase") == "Ready" and status.get("observedGeneration") == metadata.get(
        "generation"
    )
    try:
        same = specs.parse(live.get("spec") or {}, object_name=metadata.get("name", "")) == spec
    except errors.SpecError:
        same = False
    return plan.History(managed=bool(status.get("managed")), was_ready=ready_now and same)


def after_probe_failure(
    spec: specs.IndexSpec, history: plan.History, failure: errors.BuildFailure
) -> plan.History:
    """The history after a failed definition check, as executors/probe.py accounts for it."""
    verdict = policy.after_probe_failure(failure, 1, spec.retry)
    if isinstance(verdict, policy.Retry):
        return dataclasses.replace(history, retry_in=verdict.delay, last_error=verdict.message)
    return dataclasses.replace(history, definition_error=plan.Fail(verdict.reason, verdict.message))


# -- report rows ------------------------------------------------------------------------------

_REPLACING = (plan.BuildReplacement, plan.Swap, plan.DropRetired, plan.DropReplacement)


def row(
    manifest: Manifest,
    state: catalog.IndexState,
    action: plan.Action,
    *,
    managed: bool = False,
) -> Row:
    """One manifest's decision as a report row, with the SQL it runs in order. A paused spec
    shows what would run once unpaused."""
    spec = manifest.spec
    assert spec is not None
    paused = isinstance(action, plan.Paused)
    if isinstance(action, plan.Paused):
        action = action.action
    word, detail = describe(action, managed=managed)
    return Row(
        manifest.namespace,
        manifest.name,
        f"{spec.schema}.{spec.name}",
        word,
        detail,
        tuple(plan.statements(spec, state, action)),
        paused=paused,
    )


def describe(action: plan.Action, *, managed: bool) -> tuple[str, str]:
    """(action word, detail) for the report."""
    kind = type(action).__name__
    if isinstance(action, plan.Build):
        return "build", _drift(action.drift) or "the index does not exist"
    if isinstance(action, plan.DropLeftover):
        return "drop invalid leftover", _drift(action.drift) or "an INVALID index nobody builds"
    if isinstance(action, plan.BuildReplacement):
        parts = (f"{kind}: {'; '.join(action.differences)}", _drift(action.drift))
        return "replace", ", ".join(part for part in parts if part)
    if isinstance(action, _REPLACING):
        return "replace", kind
    if isinstance(action, plan.Ready):
        if action.adopted and not managed:
            return "adopt", "a valid index with the declared definition exists"
        return "nothing", "Ready: the index matches the spec"
    if isinstance(action, plan.Wait):
        return "wait", f"{action.reason}: {action.message}"
    if isinstance(action, plan.WatchForeignBuild):
        pid = action.progress.pid
        return "wait", f"BuildInProgressElsewhere: backend {pid} is building this index"
    if isinstance(action, plan.Fail):
        return "fail", f"{action.reason}: {action.message}"
    if isinstance(action, plan.Probe):
        return "wait", "Probe: the definition could not be checked"
    # The steps of an index on a partitioned table (core/partitions.py), by their names.
    return ("drop invalid leftover" if kind.startswith("Drop") else "build"), kind


def _drift(drift: str | None) -> str:
    return f"drift: {drift}" if drift else ""


def error_row(manifest: Manifest, problem: Problem, message: str) -> Row:
    spec = manifest.spec
    index = f"{spec.schema}.{spec.name}" if spec is not None else ""
    return Row(manifest.namespace, manifest.name, index, "error", message, problem=problem)


def exit_code(rows: Iterable[Row]) -> int:
    """1 when a database or Secret could not be reached, else 2 for an invalid manifest, else 3
    when any SQL would run, else 0."""
    rows = list(rows)
    if any(r.problem == CONNECTION for r in rows):
        return EXIT_PROBLEM
    if any(r.problem == INVALID for r in rows):
        return EXIT_INVALID
    if any(r.statements for r in rows):
        return EXIT_CHANGES
    return EXIT_NOTHING


# -- rendering --------------------------------------------------------------------------------

_HEADER = ("NAMESPACE/NAME", "INDEX", "ACTION", "DETAIL")


def render(rows: Sequence[Row], output: str) -> str:
    if output == "json":
        return json.dumps([r.as_dict() for r in rows], indent=2) + "\n"
    if output == "yaml":
        dumped: str = yaml.safe_dump(
            [r.as_dict() for r in rows], sort_keys=False, width=1_000_000, allow_unicode=True
        )
        return dumped
    return render_table(rows)


def render_table(rows: Sequence[Row]) -> str:
    """A row per manifest, each followed by its SQL indented (terminated with `;`, so the
    lines can be read as a script)."""
    cells = [_HEADER] + [
        (
            f"{r.namespace}/{r.name}",
            r.index or "-",
            f"{r.action} (paused)" if r.paused else r.action,
            r.detail,
        )
        for r in rows
    ]
    widths = [max(len(c[i]) for c in cells) for i in range(3)]

    def line(c: tuple[str, str, str, str]) -> str:
        return "   ".join([*(v.ljust(w) for v, w in zip(c, widths, strict=False)), c[3]]).rstrip()

    lines = [line(cells[0])]
    for r, c in zip(rows, cells[1:], strict=True):
        lines.append(line(c))
        lines.extend("    " + text for s in r.statements for text in f"{s};".splitlines())
    return "\n".join(lines) + "\n"
