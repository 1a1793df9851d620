"""Pure rendering for `kubectl dbindex status`: a DatabaseIndex object (the API server's dict) ->
a Row, and Rows -> plain text or JSON. The clock is an argument; rich's terminal rendering of the
same Rows is in terminal.py."""

from __future__ import annotations

import dataclasses
import datetime
import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

from dbindex_operator.core import settings
from dbindex_operator.core import status as statuses

DONE_PHASES: Final = frozenset({statuses.READY, statuses.FAILED})
RUNNING_PHASES: Final = frozenset({statuses.BUILDING, statuses.REPLACING})
BAR_WIDTH: Final = 20
NONE: Final = "-"


@dataclasses.dataclass(frozen=True)
class Row:
    """What one status line says about one object."""

    namespace: str
    name: str
    phase: str
    percent: int
    pg_phase: str | None  # PostgreSQL's phase, while a build runs
    partitions_done: int | None
    partitions_total: int | None
    blocking_pids: tuple[int, ...]
    attempts: int
    age_seconds: int
    eta_seconds: int | None  # the operator's estimate, aged by the time since it was made
    reason: str
    message: str
    stale: bool = False  # the operator has not yet answered the newest spec or retry request

    @property
    def done(self) -> bool:
        return self.phase in DONE_PHASES and not self.stale

    def as_json(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "name": self.name,
            "phase": self.phase,
            "percent": self.percent,
            "postgresPhase": self.pg_phase,
            "partitionsDone": self.partitions_done,
            "partitionsTotal": self.partitions_total,
            "blockingPids": list(self.blocking_pids),
            "attempts": self.attempts,
            "ageSeconds": self.age_seconds,
            "etaSeconds": self.eta_seconds,
            "reason": self.reason,
            "message": self.message,
        }


def parse_time(value: Any) -> datetime.datetime | None:
    """An RFC 3339 timestamp of the API server (or of status.progress.updatedAt), or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)


def row(obj: Mapping[str, Any], now: datetime.datetime) -> Row:
    """One object as a status line, at time `now` (aware)."""
    metadata = obj.get("metadata") or {}
    status = obj.get("status") or {}
    progress = status.get("progress") or {}
    phase = status.get("phase") or statuses.PENDING
    running = phase in RUNNING_PHASES
    percent = 100 if phase == statuses.READY else int(progress.get("percent") or 0)
    created = parse_time(metadata.get("creationTimestamp"))
    ready_condition = statuses.condition(status, "Ready")
    return Row(
        namespace=str(metadata.get("namespace") or ""),
        name=str(metadata.get("name") or ""),
        phase=phase,
        percent=percent,
        pg_phase=progress.get("phase") if running else None,
        partitions_done=progress.get("partitionsDone"),
        partitions_total=progress.get("partitionsTotal"),
        blocking_pids=tuple(progress.get("blockingPids") or ()) if running else (),
        attempts=int(status.get("attempts") or 0),
        age_seconds=max(int((now - created).total_seconds()), 0) if created else 0,
        eta_seconds=_eta(progress, now) if running else None,
        reason=str(ready_condition.get("reason") or ""),
        message=str(ready_condition.get("message") or ""),
        stale=_stale(metadata, status),
    )


def _stale(metadata: Mapping[str, Any], status: Mapping[str, Any]) -> bool:
    """True while the status answers an older spec (observedGeneration) or an older retry
    request (status.retryToken): `retry` then `status --watch` must not stop at the old Failed."""
    if status.get("observedGeneration") != metadata.get("generation"):
        return True
    token = (metadata.get("annotations") or {}).get(settings.RETRY_ANNOTATION)
    return token is not None and token != status.get("retryToken")


def _eta(progress: Mapping[str, Any], now: datetime.datetime) -> int | None:
    """status.progress.etaSeconds, less the time since the operator wrote it (updatedAt)."""
    eta = progress.get("etaSeconds")
    if not isinstance(eta, int):
        return None
    written = parse_time(progress.get("updatedAt"))
    since = (now - written).total_seconds() if written else 0.0
    return max(round(eta - max(since, 0.0)), 0)


def duration(seconds: int | None) -> str:
    """kubectl's short style: 45s, 3m20s, 2h5m, 3d4h."""
    if seconds is None:
        return NONE
    seconds = max(int(seconds), 0)
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{secs}s" if secs else f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours}h" if hours else f"{days}d"


def bar(percent: int, width: int = BAR_WIDTH) -> str:
    """[#########...........]  the plain-text progress bar."""
    percent = min(max(percent, 0), 100)
    filled = percent * width // 100
    return "[" + "#" * filled + "." * (width - filled) + "]"


def partitions(row: Row) -> str:
    if row.partitions_total is None:
        return NONE
    return f"{row.partitions_done or 0}/{row.partitions_total}"


def blocking(row: Row) -> str:
    return ",".join(map(str, row.blocking_pids)) if row.blocking_pids else NONE


HEADERS: Final = (
    "NAME",
    "PHASE",
    "PROGRESS",
    "POSTGRES PHASE",
    "PARTITIONS",
    "BLOCKED BY",
    "ATTEMPTS",
    "AGE",
    "ETA",
)


def cells(row: Row, *, with_bar: bool = True) -> list[str]:
    """The text of one line's cells, in HEADERS order (without NAMESPACE)."""
    progress = f"{row.percent:3d}%"
    return [
        row.name,
        row.phase,
        f"{bar(row.percent)} {progress}" if with_bar else progress,
        row.pg_phase or NONE,
        partitions(row),
        blocking(row),
        str(row.attempts),
        duration(row.age_seconds),
        duration(row.eta_seconds),
    ]


def plain_table(rows: Sequence[Row], *, all_namespaces: bool) -> str:
    """Aligned columns like `kubectl get`, for pipes and files."""
    headers = list(HEADERS)
    lines = [cells(r) for r in rows]
    if all_namespaces:
        headers.insert(0, "NAMESPACE")
        lines = [[r.namespace, *line] for r, line in zip(rows, lines, strict=True)]
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(headers)]
    out = []
    for line in [headers, *lines]:
        out.append("   ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
    return "\n".join(out) + "\n"


def json_document(rows: Sequence[Row]) -> str:
    """`-o json`: {"items": [...]} on one line, so `--watch` prints one document per line."""
    return json.dumps({"items": [r.as_json() for r in rows]}, sort_keys=True) + "\n"


def verdict(rows: Sequence[Row]) -> int | None:
    """--watch: None while anything is still moving; else 1 if any object Failed, else 0."""
    if not all(r.done for r in rows):
        return None
    return 1 if any(r.phase == statuses.FAILED for r in rows) else 0
