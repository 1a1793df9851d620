"""Operator-wide settings: read once from the environment into a frozen dataclass kept in memo.

Every field documents its environment variable. Per-index tuning (timeouts, retry) lives in the
DatabaseIndex spec instead; see spec.py.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Mapping

from dbindex_operator.core import errors, windows

GROUP = "dbindex.dev"
VERSION = "v1alpha1"
PLURAL = "databaseindexes"
KIND = "DatabaseIndex"
FINALIZER = f"{GROUP}/finalizer"
RETRY_ANNOTATION = f"{GROUP}/retry"


@dataclasses.dataclass(frozen=True)
class Settings:
    build_concurrency: int = 2
    """DBINDEX_BUILD_CONCURRENCY: concurrent builds per database (one per table at most)."""

    progress_interval: float = 2.0
    """DBINDEX_PROGRESS_INTERVAL: seconds between pg_stat_progress_create_index polls."""

    resync_interval: float = 60.0
    """DBINDEX_RESYNC_INTERVAL: seconds between catalog re-reads of a database (drift, validity)."""

    status_min_interval: float = 1.0
    """DBINDEX_STATUS_MIN_INTERVAL: at most one status patch per object per this many seconds."""

    deletion_timeout: float = 300.0
    """DBINDEX_DELETION_TIMEOUT: seconds a deletion retries an unreachable database before it
    releases the finalizer anyway (with a Warning event), so a namespace can always go away."""

    deletion_wait: float = 1.0
    """DBINDEX_DELETION_WAIT: seconds the delete handler waits for a cleanup before it hands the
    object back to Kopf to be called again; a quick drop is done within the first call."""

    connection_backoff: tuple[float, ...] = (2.0, 5.0, 10.0, 30.0, 60.0)
    """DBINDEX_CONNECTION_BACKOFF: comma-separated delays before re-trying a database that failed
    (missing Secret, unreachable server); the last one repeats."""

    connect_timeout: float = 10.0
    """DBINDEX_CONNECT_TIMEOUT: seconds to wait for a PostgreSQL connection."""

    check_interval: str = "2s"
    """DBINDEX_CLIENT_CHECK_INTERVAL: client_connection_check_interval of build sessions, so a
    build dies with its operator instead of running on as an orphan."""

    metrics_address: str = "0.0.0.0"
    """DBINDEX_METRICS_ADDRESS: address of the Prometheus endpoint."""

    metrics_port: int = 9090
    """DBINDEX_METRICS_PORT: port of the Prometheus endpoint; 0 turns it off."""

    catalog_lock_timeout: str = "5s"
    """DBINDEX_CATALOG_LOCK_TIMEOUT: lock_timeout of catalog reads and definition checks. A check
    copies the table's shape (CREATE TEMP TABLE ... LIKE), which waits for a lock on the table:
    a session holding ACCESS EXCLUSIVE on it must delay only that table's objects, briefly."""

    catalog_statement_timeout: str = "60s"
    """DBINDEX_CATALOG_STATEMENT_TIMEOUT: statement_timeout of catalog reads and checks."""

    health_interval: float = 600.0
    """DBINDEX_HEALTH_INTERVAL: seconds between index health reads (one query per database)."""

    unused_after: float = 30 * 24 * 3600.0
    """DBINDEX_UNUSED_AFTER: seconds an index's scan count may stay unchanged before its
    (informational) condition Unused turns True."""

    verify_interval: float = 24 * 3600.0
    """DBINDEX_VERIFY_INTERVAL: seconds between amcheck checks of an index with
    spec.maintenance.verify (run only inside its maintenance window)."""

    reindex_cooldown: float = 7 * 24 * 3600.0
    """DBINDEX_REINDEX_COOLDOWN: the least seconds between two bloat-triggered reindexes of one
    index, so a bloat estimate that stays high after a fresh build cannot loop."""

    default_window: windows.Policy | None = None
    """DBINDEX_DEFAULT_WINDOW: JSON, the maintenance window of objects without spec.window, e.g.
    {"windows": [{"schedule": "0 1 * * *", "duration": "4h", "timeZone": "Europe/Berlin"}]};
    unset: work starts at any time."""

    application_name: str = "dbindex-operator"
    """DBINDEX_APPLICATION_NAME: application_name of our sessions (visible in pg_stat_activity)."""

    api_write_rate: float = 300.0
    """DBINDEX_API_WRITE_RATE: the most writes per second (status and finalizer patches, Events)
    the operator sends the API server. An overloaded reply (429, 503, 504, "request did not
    complete") halves the rate; successes bring it back (core/pacing.py)."""

    api_write_burst: float = 50.0
    """DBINDEX_API_WRITE_BURST: how many writes may go at once before the rate applies."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        defaults = cls()

        def number(name: str, default: float) -> float:
            raw = env.get(name)
            if raw is None or raw == "":
                return default
            try:
                value = float(raw)
            except ValueError:
                raise ValueError(f"{name} must be a number, got {raw!r}") from None
            if not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {raw!r}")
            if value < 0:
                raise ValueError(f"{name} must not be negative, got {raw!r}")
            return value

        backoff_raw = env.get("DBINDEX_CONNECTION_BACKOFF")
        backoff = defaults.connection_backoff
        if backoff_raw:
            try:
                backoff = tuple(float(part) for part in backoff_raw.split(","))
                if not all(math.isfinite(d) and d >= 0 for d in backoff):
                    raise ValueError
            except ValueError:
                raise ValueError(
                    f"DBINDEX_CONNECTION_BACKOFF must be numbers, got {backoff_raw!r}"
                ) from None
        concurrency = int(number("DBINDEX_BUILD_CONCURRENCY", defaults.build_concurrency))
        if concurrency < 1:
            raise ValueError("DBINDEX_BUILD_CONCURRENCY must be at least 1")
        window_raw = env.get("DBINDEX_DEFAULT_WINDOW")
        default_window = None
        if window_raw:
            try:
                default_window = windows.parse(json.loads(window_raw), "DBINDEX_DEFAULT_WINDOW")
            except (ValueError, errors.SpecError) as exc:
                raise ValueError(f"DBINDEX_DEFAULT_WINDOW: {exc}") from None
        return cls(
            health_interval=number("DBINDEX_HEALTH_INTERVAL", defaults.health_interval),
            unused_after=number("DBINDEX_UNUSED_AFTER", defaults.unused_after),
            verify_interval=number("DBINDEX_VERIFY_INTERVAL", defaults.verify_interval),
            reindex_cooldown=number("DBINDEX_REINDEX_COOLDOWN", defaults.reindex_cooldown),
            default_window=default_window,
            build_concurrency=concurrency,
            progress_interval=number("DBINDEX_PROGRESS_INTERVAL", defaults.progress_interval),
            resync_interval=number("DBINDEX_RESYNC_INTERVAL", defaults.resync_interval),
            status_min_interval=number("DBINDEX_STATUS_MIN_INTERVAL", defaults.status_min_interval),
            deletion_timeout=number("DBINDEX_DELETION_TIMEOUT", defaults.deletion_timeout),
            deletion_wait=number("DBINDEX_DELETION_WAIT", defaults.deletion_wait),
            connection_backoff=backoff,
            connect_timeout=number("DBINDEX_CONNECT_TIMEOUT", defaults.connect_timeout),
            check_interval=env.get("DBINDEX_CLIENT_CHECK_INTERVAL") or defaults.check_interval,
            metrics_address=env.get("DBINDEX_METRICS_ADDRESS") or defaults.metrics_address,
            metrics_port=int(number("DBINDEX_METRICS_PORT", defaults.metrics_port)),
            catalog_lock_timeout=env.get("DBINDEX_CATALOG_LOCK_TIMEOUT")
            or defaults.catalog_lock_timeout,
            catalog_statement_timeout=env.get("DBINDEX_CATALOG_STATEMENT_TIMEOUT")
            or defaults.catalog_statement_timeout,
            application_name=env.get("DBINDEX_APPLICATION_NAME") or defaults.application_name,
            api_write_rate=max(number("DBINDEX_API_WRITE_RATE", defaults.api_write_rate), 1.0),
            api_write_burst=max(number("DBINDEX_API_WRITE_BURST", defaults.api_write_burst), 1.0),
        )
