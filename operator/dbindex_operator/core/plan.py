"""decide(spec, state, ...) -> Action: what to do about one index, from the catalog. Pure.

The catalog is the actual state, not the history of what we did: an index someone else built is
adopted, a dead INVALID leftover (including the IF NOT EXISTS trap) is dropped and rebuilt, an
index another backend is still building is watched, never touched.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping
from typing import Any

from dbindex_operator.core import (
    actions,
    catalog,
    compat,
    definitions,
    maintenance,
    names,
    partitions,
    policy,
    replacement,
    windows,
)
from dbindex_operator.core import spec as specs
from dbindex_operator.core.actions import Action as Action
from dbindex_operator.core.actions import Build as Build
from dbindex_operator.core.actions import BuildReplacement as BuildReplacement
from dbindex_operator.core.actions import DropLeftover as DropLeftover
from dbindex_operator.core.actions import DropReplacement as DropReplacement
from dbindex_operator.core.actions import DropRetired as DropRetired
from dbindex_operator.core.actions import Fail as Fail
from dbindex_operator.core.actions import Paused as Paused
from dbindex_operator.core.actions import Probe as Probe
from dbindex_operator.core.actions import Ready as Ready
from dbindex_operator.core.actions import Swap as Swap
from dbindex_operator.core.actions import Wait as Wait
from dbindex_operator.core.actions import WatchForeignBuild as WatchForeignBuild
from dbindex_operator.core.statements import statements as statements


@dataclasses.dataclass(frozen=True)
class History:
    """The little the decision needs beyond the catalog: our own attempts at this generation."""

    failed: Fail | None = None  # a permanent failure, kept until the spec or retry token changes
    retry_in: float = 0.0  # seconds until the next attempt is allowed (backoff)
    last_error: str | None = None
    built_here: bool = False  # we built it in this process (Ready is not an adoption)
    definition_error: Fail | None = None  # PostgreSQL rejected the definition when checking it
    managed: bool = False  # the index was Ready under this object: later changes are ours
    was_ready: bool = False  # Ready at this very generation: a difference now is drift
    approved: bool = False  # updatePolicy Manual: the retry annotation changed since reported
    partition_retries: Mapping[int, partitions.Retry] = dataclasses.field(default_factory=dict)
    health: Mapping[str, Any] | None = None  # status.health: the last health pass, verify, reindex
    maintenance_in: float = 0.0  # seconds until a failed maintenance step may run again


def decide(
    spec: specs.IndexSpec,
    state: catalog.IndexState,
    desired: Mapping[str, Any] | None,
    history: History,
    *,
    now: datetime.datetime | None = None,
    window: windows.Policy | None = None,
    verify_every: float = 24 * 3600.0,
    reindex_cooldown: float = 7 * 24 * 3600.0,
) -> Action:
    """What to do next about spec's index. Work waits outside the maintenance window (`window`,
    judged at `now`). A Ready index may need maintenance (core/maintenance.py), which starts
    only inside the window (it stays Ready meanwhile). With spec.paused, the decision comes back
    wrapped in Paused with the SQL it would run, and nothing is executed."""
    action = _decide(spec, state, desired, history)
    if isinstance(action, Ready) and now is not None and state.table_kind != "p":
        chore = maintenance.decide(
            spec.maintenance,
            spec.method,
            state,
            history.health,
            now=now,
            hold=history.maintenance_in,
            verify_every=verify_every,
            cooldown=reindex_cooldown,
        )
        cleanup = isinstance(chore, actions.DropReindexLeftover)
        if chore is not None and (
            window is None or window.is_open(now) or (cleanup and window.cancel_outside)
        ):
            action = chore  # with cancelOutsideWindow, a cancelled reindex's copy goes at once
    elif window is not None and now is not None:
        action = windows.gate(action, state.table_pages, history.managed, window, now)
    if spec.paused and isinstance(action, actions.Work) and not isinstance(action, Probe):
        return Paused(action, tuple(statements(spec, state, action)))
    return action


def _decide(
    spec: specs.IndexSpec,
    state: catalog.IndexState,
    desired: Mapping[str, Any] | None,
    history: History,
) -> Action:
    where = f"{spec.schema}.{spec.table}"
    refused = compat.unsupported(spec, state.server_version)
    if refused is not None:
        return Fail(compat.REASON, refused)
    if not state.table_exists:
        return Wait("Waiting", "TableNotFound", f"table {where} does not exist (yet)")
    if state.table_kind == "p":
        return _partitioned(spec, state, desired, history, where)
    if state.index_exists:
        if state.relation_kind != "i" or not state.on_table:
            return Fail(
                "NameConflict",
                f"{spec.schema}.{spec.name} exists and is not an index on {where}",
            )
        if state.valid:
            if state.locked_by is not None:
                return _locked(state.locked_by, where)
            if desired is None:
                if history.definition_error is not None:
                    return history.definition_error
                if history.retry_in > 0:
                    return _backing_off(history)
                return Probe()
            return replacement.decide(spec, state, desired, history)
        if state.built_by_someone:
            assert state.builder is not None
            return WatchForeignBuild(state.builder)
        if state.builder is not None:
            # Never queue a lock behind another CIC on the table: that can deadlock it.
            return _table_busy(state.builder, where)
        return DropLeftover(drift=_drift(history, "the index had become INVALID"))
    leftover = replacement.cleanup(state, where)
    if leftover is not None:
        return leftover
    if history.failed is not None:
        return history.failed
    if state.builder is not None:
        return _table_busy(state.builder, where)
    if history.retry_in > 0:
        return _backing_off(history)
    return Build(drift=_drift(history, "the index had been dropped"))


def _partitioned(
    spec: specs.IndexSpec,
    state: catalog.IndexState,
    desired: Mapping[str, Any] | None,
    history: History,
    where: str,
) -> Action:
    """An index on a partitioned table: core/partitions.py builds the tree; a replacement builds
    a second tree under the replacement name and swaps the names on the partitioned table."""
    index = f"{spec.schema}.{spec.name}"
    if state.index_exists and (state.relation_kind != "I" or not state.on_table):
        return Fail("NameConflict", f"{index} exists and is not an index on {where}")
    if not state.partitions:
        return Wait("Pending", "ReadingPartitions", f"reading the partitions of {where}")
    if history.failed is not None:
        return history.failed
    if desired is None:
        return history.definition_error or (_backing_off(history) if history.retry_in else Probe())
    tree, retries = state.partitions, history.partition_retries
    if not (state.index_exists and state.valid):
        return replacement.cleanup(state, where) or partitions.decide(spec, tree, desired, retries)
    if state.locked_by is not None:
        return _locked(state.locked_by, where)
    diffs = tuple(definitions.differences(desired, state.signature or {}))
    if not diffs:
        return replacement.cleanup(state, where) or partitions.decide(spec, tree, desired, retries)
    started = state.replacement_oid is not None or state.retired_oid is not None
    refused = None if started else replacement.refusal(spec, state, history, index, diffs)
    if refused is not None:
        return refused
    if state.retired_oid is not None:
        return DropRetired()
    if state.replacement_oid is not None and state.replacement_valid:
        if state.replacement_signature is None:
            return _locked(state.locked_by or 0, where)
        if definitions.differences(desired, state.replacement_signature):
            return DropReplacement()
        return Swap()
    new = dataclasses.replace(spec, name=names.replacement(spec.name))
    return partitions.decide(new, tree, desired, retries)


def _drift(history: History, found: str) -> str | None:
    """An index that was Ready at this generation and is not any more was changed by someone
    else: say what was found (a spec change is no drift)."""
    return found if history.was_ready else None


def _locked(pid: int, where: str) -> Wait:
    return Wait(
        "Pending",
        "TableLocked",
        f"backend {pid} holds or awaits an ACCESS EXCLUSIVE lock on {where}; "
        "the definition is checked once it is gone",
    )


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
    """DROP INDEX CONCURRENTLY; only_invalid re-checks right before that it is INVALID.
    `name`: one of our own replacement/retired/partition indexes instead of the declared one
    (`schema`: a partition's schema). `concurrently` False: the index on a partitioned table."""

    only_invalid: bool
    name: str | None = None
    schema: str | None = None
    concurrently: bool = True


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
    if state.replacement_building or (state.built_by_someone and state.builder is not None):
        assert state.builder is not None
        return WaitForBuild(state.builder)
    concurrently = state.table_kind != "p"
    if state.replacement_oid is not None:  # ours, never the user's: whatever the policy
        return DropIndex(False, name=names.replacement(spec.name), concurrently=concurrently)
    if state.retired_oid is not None:
        return DropIndex(False, name=names.retired(spec.name), concurrently=concurrently)
    new = dataclasses.replace(spec, name=names.replacement(spec.name))
    for node in state.partitions[1:]:  # our own partition indexes not attached (yet)
        for owner in (spec, new):
            mine = partitions.own_index(owner, state.partitions, node)
            if mine is None or mine.parent is not None or not node.leaf:
                continue
            if node.builder is not None and node.builder.index_relid == mine.oid:
                return WaitForBuild(node.builder)
            return DropIndex(only_invalid=False, name=mine.name, schema=node.schema)
    if not state.index_exists:
        return policy.Release(f"{index} does not exist; nothing to drop")
    if state.relation_kind == "I" and state.on_table:
        if spec.delete_with_object or not state.valid:
            return DropIndex(only_invalid=not spec.delete_with_object, concurrently=False)
        return policy.Release(f"deletionPolicy Retain: {index} stays in the database")
    if state.relation_kind != "i" or not state.on_table:
        return policy.Release(f"{index} is not an index on {spec.schema}.{spec.table}; untouched")
    if spec.delete_with_object:
        return DropIndex(only_invalid=False)
    if not state.valid:
        return DropIndex(only_invalid=True)
    return policy.Release(f"deletionPolicy Retain: {index} stays in the database")
