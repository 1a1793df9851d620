"""The suite's results: one row per scenario (the table `make faults` prints and
docs/reliability.md shows) and faults/results/latest.json with every run's figures."""

from __future__ import annotations

import dataclasses
import datetime
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from faults.context import Run


@dataclasses.dataclass
class Row:
    id: str
    title: str
    runs: list[Run] = dataclasses.field(default_factory=list)
    seconds: list[float] = dataclasses.field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.runs) and all(run.passed for run in self.runs)

    def summary(self) -> dict[str, Any]:
        recovered = [run.recover_s for run in self.runs if run.recover_s is not None]
        return {
            "id": self.id,
            "scenario": self.title,
            "runs": len(self.runs),
            "ready": sum(run.ok for run in self.runs),
            "invalid_left": sum(run.invalid_left for run in self.runs),
            "duplicate_builds": sum(run.duplicate_builds for run in self.runs),
            "secret_leaks": sum(run.leaks for run in self.runs),
            "max_recover_s": max(recovered) if recovered else None,
            "passed": self.passed,
            "errors": [run.error for run in self.runs if run.error],
            "details": [
                {**dataclasses.asdict(run), "seconds": round(took, 1)}
                for run, took in zip(self.runs, self.seconds, strict=True)
            ],
        }


def utc_now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def table(rows: Sequence[Row]) -> str:
    return summary_table([row.summary() for row in rows])


def summary_table(summaries: Sequence[dict[str, Any]]) -> str:
    """The table of scenario summaries (Row.summary(), or merged ones: faults/merge.py)."""
    head = ("scenario", "runs", "Ready", "INVALID left", "duplicate builds", "max recover", "")
    lines = [head]
    for s in summaries:
        recover = "-" if s["max_recover_s"] is None else f"{s['max_recover_s']:.1f} s"
        lines.append(
            (
                f"{s['id']}. {s['scenario']}",
                str(s["runs"]),
                f"{s['ready']}/{s['runs']}",
                str(s["invalid_left"]),
                str(s["duplicate_builds"]),
                recover,
                "ok" if s["passed"] else "FAILED",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    text = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) + " |"
        for line in lines
    ]
    text.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(text)


def write(results_dir: Path, doc: dict[str, Any]) -> Path:
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / "latest.json"
    path.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    return path
