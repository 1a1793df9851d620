"""python -m faults.merge OUT DIR...: one results document from runs of the suite that were split
over several environments (e.g. FAULTS=1,2 in one and FAULTS=9 in another, side by side), or
from an interrupted run plus the run that completed it. Each DIR holds a latest.json; the runs of
one scenario are added up (max recover: the largest), every source is named in `merged_from`,
and the table is printed as `make faults` prints it.

FAULTS_MERGE_EXCLUDE=TEXT leaves out the failed runs whose error contains TEXT (several: TEXT||TEXT;
e.g. a kubectl timeout while a run created its namespace, before any fault, or a cleanup after
the measurement that the API server refused): they are listed under `excluded`
with their errors, not counted, and never hide a run that lost anything (a run that left an
INVALID index or a duplicate build is never excluded)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from faults import report, runner


def merge(documents: Sequence[dict[str, Any]], exclude: Sequence[str] = ()) -> dict[str, Any]:
    by_id: dict[str, dict[str, Any]] = {}
    excluded: list[dict[str, Any]] = []
    for doc in documents:
        for found in doc["scenarios"]:
            s, dropped = _without(found, exclude)
            excluded += [{"id": s["id"], "error": run["error"]} for run in dropped]
            into = by_id.get(s["id"])
            if into is None:
                by_id[s["id"]] = {**s, "errors": list(s["errors"]), "details": list(s["details"])}
                continue
            for key in ("runs", "ready", "invalid_left", "duplicate_builds", "secret_leaks"):
                into[key] += s[key]
            recovered = [v for v in (into["max_recover_s"], s["max_recover_s"]) if v is not None]
            into["max_recover_s"] = max(recovered) if recovered else None
            into["passed"] = into["passed"] and s["passed"]
            into["errors"] += s["errors"]
            into["details"] += s["details"]
    order = list(runner.SCENARIOS)
    scenarios = sorted(by_id.values(), key=lambda s: order.index(s["id"]))
    return {
        "started": min(doc["started"] for doc in documents),
        "finished": max(doc["finished"] for doc in documents),
        "complete": all(doc["complete"] for doc in documents),
        "merged_from": [
            {key: doc.get(key) for key in ("command", "seed", "started", "finished", "complete")}
            | {"scenarios": {s["id"]: s["runs"] for s in doc["scenarios"]}}
            for doc in documents
        ],
        "settings": documents[0]["settings"],
        "passed": all(s["passed"] for s in scenarios),
        "scenarios": scenarios,
        "excluded": excluded,
    }


def _without(
    scenario: dict[str, Any], exclude: Sequence[str]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The scenario's summary without the failed runs whose error contains one of `exclude` (and
    that lost nothing), and those runs."""
    runs = scenario["details"]
    dropped = [
        run
        for run in runs
        if exclude
        and not run["ok"]
        and any(text in (run.get("error") or "") for text in exclude)
        and not run["invalid_left"]
        and not run["duplicate_builds"]
        and not run["leaks"]
    ]
    if not dropped:
        return scenario, []
    kept = [run for run in runs if run not in dropped]
    recovered = [run["recover_s"] for run in kept if run["recover_s"] is not None]
    return {
        **scenario,
        "runs": len(kept),
        "ready": sum(bool(run["ok"]) for run in kept),
        "max_recover_s": max(recovered) if recovered else None,
        "passed": bool(kept) and all(_passed(run) for run in kept),
        "errors": [run["error"] for run in kept if run.get("error")],
        "details": kept,
    }, dropped


def _passed(run: dict[str, Any]) -> bool:
    return bool(run["ok"]) and not (
        run["invalid_left"] or run["duplicate_builds"] or run["leaks"] or run.get("error")
    )


def main(argv: Sequence[str]) -> int:
    if len(argv) < 2:
        print("usage: python -m faults.merge OUT_DIR RESULTS_DIR...", file=sys.stderr)
        return 2
    documents = [json.loads((Path(d) / "latest.json").read_text()) for d in argv[1:]]
    texts = os.environ.get("FAULTS_MERGE_EXCLUDE", "").split("||")
    doc = merge(documents, [text for text in texts if text])
    path = report.write(Path(argv[0]), doc)
    print(report.summary_table(doc["scenarios"]))
    print(f"wrote {path}")
    return 0 if doc["passed"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
