"""What the plan can decide, as frozen data. Pure: no module here runs anything.

core/plan.py and core/replacement.py return these; runtime/executors carries out the ones that
are work, runtime/reporter.py reports the rest.
"""

from __future__ import annotations

import dataclasses

from dbindex_operator.core import catalog


@dataclasses.dataclass(frozen=True)
class Build:
    """Run CREATE INDEX CONCURRENTLY (when a slot for the database and the table is free).
    `drift` says what was found when an index we had made Ready went missing."""

    drift: str | None = None


@dataclasses.dataclass(frozen=True)
class DropLeftover:
    """Drop an INVALID index nobody is building, then build."""

    drift: str | None = None


@dataclasses.dataclass(frozen=True)
class Probe:
    """Ask PostgreSQL for the normalised desired definition (a scratch build on an empty copy of
    the table, runtime/executors/probe.py), then decide again."""


@dataclasses.dataclass(frozen=True)
class Ready:
    adopted: bool


@dataclasses.dataclass(frozen=True)
class WatchForeignBuild:
    """Another backend is building this very index: report its progress, do nothing."""

    progress: catalog.Progress


@dataclasses.dataclass(frozen=True)
class Wait:
    """Nothing to do now; phase and reason say why."""

    phase: str
    reason: str
    message: str
    next_window: str | None = None  # OutsideMaintenanceWindow: when the next one starts


@dataclasses.dataclass(frozen=True)
class Fail:
    """A problem that will not heal without a human: Failed, Degraded=True, no retries."""

    reason: str
    message: str


# -- replacing an index (core/replacement.py) ------------------------------------------------


@dataclasses.dataclass(frozen=True)
class BuildReplacement:
    """CREATE INDEX CONCURRENTLY of the new definition under names.replacement(name)."""

    differences: tuple[str, ...]
    drift: str | None = None


@dataclasses.dataclass(frozen=True)
class DropReplacement:
    """DROP INDEX CONCURRENTLY of a replacement that is INVALID, stale or no longer needed."""


@dataclasses.dataclass(frozen=True)
class Swap:
    """One short transaction: the old index to names.retired(name), the replacement to the
    declared name, carrying over CLUSTER ON, the comment and statistics targets."""


@dataclasses.dataclass(frozen=True)
class DropRetired:
    """DROP INDEX CONCURRENTLY of the old index a swap retired."""


# -- partitioned tables (core/partitions.py) ---------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CreateParents:
    """CREATE INDEX IF NOT EXISTS ... ON ONLY for these partitioned tables (oids), top down.
    `index`: the name on the partitioned table (the declared one, or its replacement's)."""

    tables: tuple[int, ...]
    index: str


@dataclasses.dataclass(frozen=True)
class AttachPartitions:
    """ALTER INDEX parent ATTACH PARTITION child for each (child oid, parent oid) pair."""

    pairs: tuple[tuple[int, int], ...]


@dataclasses.dataclass(frozen=True)
class BuildPartition:
    """CREATE INDEX CONCURRENTLY of the index on one leaf partition (its table oid)."""

    table: int
    index: str


@dataclasses.dataclass(frozen=True)
class DropPartitionLeftover:
    """DROP INDEX CONCURRENTLY of our INVALID (or stale) index on one leaf partition."""

    table: int
    index: str


# -- maintenance of a Ready index (core/maintenance.py) ----------------------------------------


@dataclasses.dataclass(frozen=True)
class Reindex:
    """REINDEX INDEX CONCURRENTLY (phase Reindexing): `reason` IndexBloated or IndexCorrupt."""

    reason: str
    message: str


@dataclasses.dataclass(frozen=True)
class Verify:
    """amcheck's bt_index_check(index, heapallindexed) on the btree index, when installed."""


@dataclasses.dataclass(frozen=True)
class DropReindexLeftover:
    """DROP INDEX CONCURRENTLY of an INVALID `_ccnew`/`_ccold` copy a dead reindex left."""

    name: str


@dataclasses.dataclass(frozen=True)
class Paused:
    """spec.paused: `action` is what would run, `statements` its SQL in order; nothing runs."""

    action: Action
    statements: tuple[str, ...]


Action = (
    Build
    | DropLeftover
    | Probe
    | Ready
    | WatchForeignBuild
    | Wait
    | Fail
    | BuildReplacement
    | DropReplacement
    | Swap
    | DropRetired
    | CreateParents
    | AttachPartitions
    | BuildPartition
    | DropPartitionLeftover
    | Reindex
    | Verify
    | DropReindexLeftover
    | Paused
)
Work = (
    Build
    | DropLeftover
    | Probe
    | BuildReplacement
    | DropReplacement
    | Swap
    | DropRetired
    | CreateParents
    | AttachPartitions
    | BuildPartition
    | DropPartitionLeftover
    | Reindex
    | Verify
    | DropReindexLeftover
)
