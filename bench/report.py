"""The result of a run: one ScenarioResult per scenario, the printed table, the JSON files.

JSON document (``bench/results/latest.json`` and ``bench/results/<UTC timestamp>.json``)::

    {
      "schema": 1,
      "started_at": "2025-01-01T12:00:00Z", "finished_at": "...", "seconds": 312.4,
      "command": "make bench", "scale": 1.0, "scenarios_requested": ["p1", ...],
      "environment": {cores, pg_version, fsync, pg_settings, kubernetes, ...},
      "scenarios": {
        "p1": {
          "id": "p1", "scenario": "...", "scale": 1.0, "size": {...},
          "figures": {raw measurements, seconds/MB/counts},
          "ratio": 0.71 | null,           # the operator/psql ratio where the scenario has one
          "target": "ratio <= 0.8",        # every target, joined
          "checks": [{"name", "value", "op", "limit", "unit", "target", "met"}, ...],
          "met": true,                    # every check met and no error
          "environment": {...},            # the run's facts plus the load average at the start
          "error": null | "what went wrong", "notes": [...]
        }, ...
      }
    }
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.stats import Check, fmt

SCHEMA_VERSION = 1
SCENARIO_KEYS = (
    "id",
    "scenario",
    "scale",
    "size",
    "figures",
    "ratio",
    "target",
    "checks",
    "met",
    "environment",
    "error",
    "notes",
    "summary",
    "seconds",
)


@dataclasses.dataclass
class ScenarioResult:
    id: str
    scenario: str
    scale: float
    size: dict[str, Any] = dataclasses.field(default_factory=dict)
    figures: dict[str, Any] = dataclasses.field(default_factory=dict)
    ratio: float | None = None
    checks: list[Check] = dataclasses.field(default_factory=list)
    environment: dict[str, Any] = dataclasses.field(default_factory=dict)
    error: str | None = None
    notes: list[str] = dataclasses.field(default_factory=list)
    summary: str = ""  # the figures column of the table
    seconds: float = 0.0  # how long the scenario took to run, preparation included

    @property
    def met(self) -> bool:
        return self.error is None and bool(self.checks) and all(c.met for c in self.checks)

    @property
    def target(self) -> str:
        return "; ".join(f"{c.name} {c.target}" for c in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "scenario": self.scenario,
            "scale": self.scale,
            "size": self.size,
            "figures": self.figures,
            "ratio": self.ratio,
            "target": self.target,
            "checks": [c.as_dict() for c in self.checks],
            "met": self.met,
            "environment": self.environment,
            "error": self.error,
            "notes": self.notes,
            "summary": self.summary,
            "seconds": round(self.seconds, 1),
        }


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def iso(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def stamp(moment: datetime.datetime) -> str:
    """File-name-safe UTC timestamp, e.g. 20250101T120000Z."""
    return moment.strftime("%Y%m%dT%H%M%SZ")


def document(
    results: Sequence[ScenarioResult],
    *,
    started: datetime.datetime,
    finished: datetime.datetime,
    scale: float,
    requested: Sequence[str],
    environment: dict[str, Any],
    command: str,
) -> dict[str, Any]:
    return {
        "schema": SCHEMA_VERSION,
        "started_at": iso(started),
        "finished_at": iso(finished),
        "seconds": round((finished - started).total_seconds(), 1),
        "command": command,
        "scale": scale,
        "scenarios_requested": list(requested),
        "environment": environment,
        "scenarios": {r.id: r.as_dict() for r in results},
    }


def write(results_dir: Path, doc: dict[str, Any], moment: datetime.datetime) -> list[Path]:
    """Write latest.json and <UTC timestamp>.json into results_dir; return both paths."""
    results_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(doc, indent=2, sort_keys=False) + "\n"
    stamped = results_dir / f"{stamp(moment)}.json"
    latest = results_dir / "latest.json"
    for path in (stamped, latest):
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(text)
        tmp.replace(path)
    return [latest, stamped]


def validate(doc: dict[str, Any]) -> list[str]:
    """Problems with a results document's shape (empty when well-formed)."""
    problems: list[str] = []
    for key in ("schema", "started_at", "finished_at", "scale", "environment", "scenarios"):
        if key not in doc:
            problems.append(f"missing top-level key {key!r}")
    env = doc.get("environment") or {}
    for key in ("cores", "pg_version", "fsync"):
        if key not in env:
            problems.append(f"environment lacks {key!r}")
    scenarios = doc.get("scenarios")
    if not isinstance(scenarios, dict):
        return [*problems, "scenarios is not an object"]
    for sid, scenario in scenarios.items():
        missing = [k for k in SCENARIO_KEYS if k not in scenario]
        if missing:
            problems.append(f"{sid}: missing {missing}")
            continue
        if scenario["id"] != sid:
            problems.append(f"{sid}: id is {scenario['id']!r}")
        if not isinstance(scenario["met"], bool):
            problems.append(f"{sid}: met is not a bool")
        if not isinstance(scenario["figures"], dict):
            problems.append(f"{sid}: figures is not an object")
        if scenario["ratio"] is not None and not isinstance(scenario["ratio"], (int, float)):
            problems.append(f"{sid}: ratio is neither null nor a number")
        for check in scenario["checks"]:
            for key in ("name", "value", "op", "limit", "target", "met"):
                if key not in check:
                    problems.append(f"{sid}: a check lacks {key!r}")
        if scenario["error"] is None and not scenario["checks"]:
            problems.append(f"{sid}: no checks and no error")
        for key in ("cores", "pg_version", "fsync"):
            if key not in scenario["environment"]:
                problems.append(f"{sid}: environment lacks {key!r}")
        if not isinstance(scenario["scale"], (int, float)):
            problems.append(f"{sid}: scale is not a number")
    return problems


def table(results: Sequence[ScenarioResult]) -> str:
    """The printed table: one line per target; a scenario's id and figures on its first line.

    Columns: `limit` is what a ratio divides by (psql's wall time, or the physical limit's),
    `ratio` the check's name and value (a ratio, or a figure such as RSS), `target` its
    comparison, `met` yes or NO."""
    header = ("id", "scenario", "figures", "limit", "ratio", "target", "met")
    rows: list[tuple[str, ...]] = []
    for result in results:
        lines: list[tuple[str, str, str, str]] = []
        if result.error is not None:
            lines.append(("", "ERROR: " + _shorten(result.error, 70), "", "no"))
        for check in result.checks:
            unit = f" {check.unit}" if check.unit else ""
            lines.append(
                (
                    check.against,
                    f"{check.name} {fmt(check.value, _digits(check))}{unit}",
                    check.target,
                    "yes" if check.met else "NO",
                )
            )
        summary_lines = result.summary.splitlines() or [""]
        height = max(len(lines), len(summary_lines))
        for i in range(height):
            check_cells = lines[i] if i < len(lines) else ("", "", "", "")
            rows.append(
                (
                    result.id if i == 0 else "",
                    result.scenario if i == 0 else "",
                    summary_lines[i] if i < len(summary_lines) else "",
                    *check_cells,
                )
            )
    widths = [max(len(r[c]) for r in [header, *rows]) for c in range(len(header))]
    rule = "-+-".join("-" * w for w in widths)

    def line(cells: Sequence[str]) -> str:
        return " | ".join(cell.ljust(w) for cell, w in zip(cells, widths, strict=True)).rstrip()

    return "\n".join([line(header), rule, *(line(r) for r in rows)])


def _digits(check: Check) -> int:
    if check.value is None:
        return 0
    return 3 if abs(check.value) < 10 else 1


def _shorten(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
