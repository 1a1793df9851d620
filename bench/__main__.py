"""python -m bench: run the benchmarks (see docs/benchmarks.md).

Environment: BENCH=p1,p3 (default: all), BENCH_SCALE (default 1.0; 5 = the issue's sizes),
BENCH_REPEAT (rounds per ratio, medians reported; default 1), BENCH_RESULTS_DIR (default
bench/results), BENCH_OPERATOR_NAMESPACES (comma-separated --namespace patterns for the operator
under test; default: run -A), DBINDEX_LOCAL_DIR (the environment, via its env file).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from bench import runner
from bench.cluster import BenchError


def main() -> int:
    try:
        selection = runner.parse_selection(os.environ.get("BENCH"))
        scale = runner.parse_scale(os.environ.get("BENCH_SCALE"))
        repeat = int(os.environ.get("BENCH_REPEAT") or 1)
        results_dir = Path(os.environ.get("BENCH_RESULTS_DIR") or runner.RESULTS_DIR)
        namespaces = [
            p.strip()
            for p in (os.environ.get("BENCH_OPERATOR_NAMESPACES") or "").split(",")
            if p.strip()
        ]
        command = " ".join(
            f"{k}={os.environ[k]}"
            for k in ("BENCH", "BENCH_SCALE", "BENCH_REPEAT")
            if os.environ.get(k)
        )
        doc, _ = runner.run(
            selection,
            scale=scale,
            results_dir=results_dir,
            repeat=repeat,
            operator_namespaces=namespaces,
            command=f"{command} python -m bench".strip(),
        )
    except (BenchError, ValueError, FileNotFoundError) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    failed = [sid for sid, s in doc["scenarios"].items() if s["error"] is not None]
    if failed:
        print(f"bench: scenario(s) failed to run: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
