"""API requests as the API server counts them: `apiserver_request_total` from its own /metrics,
read before and after a measured step. The difference, by verb and resource, is what the step
cost the control plane, whoever sent it (the operator, the user's apply, the bench's watch)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tests.harness.process import parse_metrics

WRITE_VERBS = frozenset({"POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION"})
Counts = dict[tuple[str, str], float]
"""(verb, resource[/subresource]) -> requests"""


def read(kube: Any) -> Counts:
    """The API server's request counters now (all codes summed), via `kubectl get --raw`."""
    text = kube.kubectl("get", "--raw", "/metrics").stdout
    return parse("\n".join(line for line in text.splitlines() if _wanted(line)) + "\n")


def _wanted(line: str) -> bool:
    return line.startswith("apiserver_request_total{") or line.startswith(
        "# TYPE apiserver_request_total "
    )


def parse(text: str) -> Counts:
    counts: Counts = {}
    for (name, labels), value in parse_metrics(text).items():
        if name != "apiserver_request_total":
            continue
        found = dict(labels)
        resource = found.get("resource", "")
        if found.get("subresource"):
            resource = f"{resource}/{found['subresource']}"
        key = (found.get("verb", ""), resource)
        counts[key] = counts.get(key, 0.0) + value
    return counts


def writes(before: Mapping[tuple[str, str], float], after: Counts) -> dict[str, float]:
    """Write requests between two readings, as {"VERB resource": count}, biggest first."""
    delta = {
        f"{verb} {resource}": after[key] - before.get(key, 0.0)
        for key in after
        for verb, resource in [key]
        if verb in WRITE_VERBS and after[key] - before.get(key, 0.0) > 0
    }
    return dict(sorted(delta.items(), key=lambda item: -item[1]))


OBJECT_RESOURCES = ("databaseindexes", "databaseindexes/status", "events")
USER_WRITES = ("APPLY databaseindexes", "POST databaseindexes")


def object_writes(by_kind: Mapping[str, float]) -> float:
    """Writes to the objects, their status and Events, but the user's own create/apply: what the
    operator spent on them (the control plane's own lease renewals are left out)."""
    return sum(
        count
        for kind, count in by_kind.items()
        if kind not in USER_WRITES and kind.split(" ", 1)[1] in OBJECT_RESOURCES
    )


def per_object(
    before: Counts, after: Counts, run: Mapping[str, Any], objects: int
) -> dict[str, Any]:
    """One operator run's API cost: its writes by verb and resource, the writes per object
    besides the user's create, and the CPU seconds per object of the operator, kube-apiserver
    and etcd (from `run`'s *_cpu_s figures)."""
    by_kind = writes(before, after)
    figures: dict[str, Any] = {
        "api_writes": by_kind,
        "writes_per_object": round(object_writes(by_kind) / max(objects, 1), 2),
    }
    for name in ("operator_cpu_s", "kube_apiserver_cpu_s", "etcd_cpu_s"):
        if name in run:
            figures[name.replace("_cpu_s", "_cpu_ms_per_object")] = round(
                1000 * float(run[name]) / max(objects, 1), 2
            )
    return figures


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The figures of the first run that has them, lifted to the scenario level (the table)."""
    for run in runs:
        if "writes_per_object" in run:
            keys = [k for k in run if k == "writes_per_object" or k.endswith("_per_object")]
            return {k: run[k] for k in keys} | {"api_writes": run["api_writes"]}
    return {"writes_per_object": None}
