"""python -m faults: the fault suite (issue #16 part 1; docs/reliability.md, "Fault suite").

Environment: FAULTS=1,3a,9 (default: all), FAULTS_REPEAT (runs per scenario, default 20),
FAULTS_SEED (the seed of the random fault moments; default: the clock, printed),
FAULTS_BURST (objects in scenario 9, default 2000), FAULTS_BURST_504_SHARE (share of Kopf's
finalizer patches answered 504 after they landed, default 0.02), FAULTS_HOT_WINDOW (seconds
scenario 6 watches for a hot loop, default 60), FAULTS_PG_DOWN (seconds PostgreSQL stays
stopped in 3b, default 30), FAULTS_BIG_ROWS (rows of the table builds run on, default
300000), FAULTS_RESULTS_DIR (default faults/results), FAULTS_OPERATOR_SOURCE (a directory with
another dbindex_operator package for the operators under test), DBINDEX_LOCAL_DIR (the
environment).
Exit status: 0 all passed, 1 a scenario lost something, 2 the suite could not run.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tests.harness import HarnessError

from faults import runner


def _number(name: str, default: float) -> float:
    text = os.environ.get(name, "").strip()
    return float(text) if text else default


def main() -> int:
    try:
        seed = os.environ.get("FAULTS_SEED", "").strip()
        doc, _ = runner.run(
            runner.parse_selection(os.environ.get("FAULTS")),
            repeat=int(_number("FAULTS_REPEAT", 20)),
            seed=int(seed) if seed else None,
            burst_objects=int(_number("FAULTS_BURST", 2000)),
            burst_share=_number("FAULTS_BURST_504_SHARE", 0.02),
            hot_window=_number("FAULTS_HOT_WINDOW", 60),
            pg_down=_number("FAULTS_PG_DOWN", 30),
            big_rows=int(_number("FAULTS_BIG_ROWS", 300_000)),
            results_dir=Path(os.environ.get("FAULTS_RESULTS_DIR") or runner.RESULTS_DIR),
            command=" ".join(
                f"{k}={os.environ[k]}" for k in sorted(os.environ) if k.startswith("FAULTS")
            )
            + " python -m faults",
        )
    except (HarnessError, ValueError, FileNotFoundError) as exc:
        print(f"faults: {exc}", file=sys.stderr)
        return 2
    return 0 if doc["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
