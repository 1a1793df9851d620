"""decide(spec, state, ...) -> Action: what to do about one index, from the catalog. Pure.

The catalog is the actual state, not the history of what we did: an index someone else built is
adopted, a dead INVALID leftover (including the IF NOT EXISTS trap) is dropped and rebuilt, an
index another backend is still building is watched, never touched.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from dbindex_operator.core import catalog, definitions, policy
from dbindex_operator.core import spec as specs


@dataclasses.dataclass(frozen=True)
class Build:
    """Run CREATE INDEX CONCURRENTLY (when a slot for the database and the table is free)."""


@dataclasses.dataclass(frozen=True)
class DropLeftover:
    """Drop an INVALID index nobody is building, then build."""


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


@dataclasses.dataclass(frozen=True)
class Fail:
    """A problem that will not heal without a human: Failed, Degraded=True, no retries."""

    reason: str
    message: str


T = TypeVar("T")
Action = Build | DropLeftover | Probe | Ready | WatchForeignBuild | Wait | Fail


@dataclasses.dataclass(frozen=True)
class History:
    """The little the decision needs beyond the catalog: our own attempts at this generation."""

    failed: Fail | None = None  # a permanent failure, kept until the spec or retry token changes
    retry_in: float = 0.0  # seconds until the next attempt is allowed (backoff)
    last_error: str | None = None
    built_here: bool = False  # we built it in this process (Ready is not an adoption)
    definition_error: Fail | None = None  # PostgreSQL rejected the definition when checking it


def decide(
    spec: specs.IndexSpec,
    state: catalog.IndexState,
    desired: Mapping[str, Any] | None,
    history: History,
) -> Action:
    where = f"{spec.schema}.{spec.table}"
    if not state.table_exists:
        return Wait("Waiting", "TableNotFound", f"table {where} does not exist (yet)")
    if state.table_kind == "p":
        return Fail(
            "PartitionedTable",
            f"{where} is partitioned; CREATE INDEX CONCURRENTLY cannot build on it",
        )
    if state.index_exists:
        if state.relation_kind != "i" or not state.on_table:
            return Fail(
                "NameConflict",
                f"{spec.schema}.{spec.name} exists and is not an index on {where}",
            )
        if state.valid:
            if state.locked_by is not None:
                return Wait(
                    "Pending",
                    "TableLocked",
                    f"backend {state.locked_by} holds or awaits an ACCESS EXCLUSIVE lock on "
                    f"{where}; the definition is checked once it is gone",
                )
            if desired is None:
                if history.definition_error is not None:
                    return history.definition_error
                if history.retry_in > 0:
                    return _backing_off(history)
                return Probe()
            diffs = definitions.differences(desired, state.signature or {})
            if diffs:
                return Fail(
                    "DefinitionMismatch",
                    "a valid index of this name exists with another definition ("
                    + "; ".join(diffs)
                    + "); it is left alone",
                )
            return Ready(adopted=not history.built_here)
        if state.built_by_someone:
            assert state.builder is not None
            return WatchForeignBuild(state.builder)
        if state.builder is not None:
            # Never queue a lock behind another CIC on the table: that can deadlock it.
            return _table_busy(state.builder, where)
        return DropLeftover()
    if history.failed is not None:
        return history.failed
    if state.builder is not None:
        return _table_busy(state.builder, where)
    if history.retry_in > 0:
        return _backing_off(history)
    return Build()


def _backing_off(history: History) -> Wait:
    return Wait(
        "Retrying",
        "BackingOff",
        f"next attempt in {history.retry_in:.0f}s after: {history.last_error}",
    )


def _table_busy(builder: catalog.Progress, where: str) -> Wait:
    return Wait(
        "Pending",
        "TableBusy",
        f"backend {builder.pid} is building another index on {where}; "
        "only one build per table runs at a time",
    )


# -- deletion ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CancelWork:
    """Our own build or drop for this object is still running: cancel it first."""


@dataclasses.dataclass(frozen=True)
class DropIndex:
    """DROP INDEX CONCURRENTLY; only_invalid re-checks right before that it is INVALID."""

    only_invalid: bool


@dataclasses.dataclass(frozen=True)
class WaitForBuild:
    """A backend is still building this index (ours winding down after a cancel, or someone
    else's): never drop an index under a live build."""

    progress: catalog.Progress


DeletionAction = CancelWork | DropIndex | WaitForBuild | policy.Release


def decide_deletion(
    spec: specs.IndexSpec, state: catalog.IndexState, *, working: bool
) -> DeletionAction:
    """What deleting the object does to its index, from the catalog (so a crash at any step
    resumes): Delete drops the index, Retain drops only an INVALID leftover of a cancelled build."""
    index = f"{spec.schema}.{spec.name}"
    if working:
        return CancelWork()
    if not state.index_exists:
        return policy.Release(f"{index} does not exist; nothing to drop")
    if state.relation_kind != "i" or not state.on_table:
        return policy.Release(f"{index} is not an index on {spec.schema}.{spec.table}; untouched")
    if state.built_by_someone:
        assert state.builder is not None
        return WaitForBuild(state.builder)
    if spec.delete_with_object:
        return DropIndex(only_invalid=False)
    if not state.valid:
        return DropIndex(only_invalid=True)
    return policy.Release(f"deletionPolicy Retain: {index} stays in the database")


def build_order(items: list[T], state_of: Callable[[T], catalog.IndexState]) -> list[T]:
    """Longest work first: the table with the most pending work (its pages times the builds
    waiting for it, since one table builds one index at a time), biggest table to break ties.
    Starting the longest chain first finishes the batch soonest."""
    pending: dict[int | None, int] = {}
    for item in items:
        oid = state_of(item).table_oid
        pending[oid] = pending.get(oid, 0) + 1

    def weight(item: T) -> tuple[int, int]:
        state = state_of(item)
        return state.table_pages * pending[state.table_oid], state.table_pages

    return sorted(items, key=weight, reverse=True)
