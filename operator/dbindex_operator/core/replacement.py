"""Replacing a valid index whose definition differs from the spec, without a moment of no index.
Pure. The steps, each decided afresh from the catalog (so a crash at any step converges):

1. BuildReplacement  CREATE INDEX CONCURRENTLY under names.replacement(name)
2. Swap              one short transaction: old -> names.retired(name), new -> name
3. DropRetired       DROP INDEX CONCURRENTLY of the retired old index

A replacement that is INVALID (a failed build) or was built for an older spec is dropped
(DropReplacement) and built again; leftovers of ours are cleaned before anything else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dbindex_operator.core import actions, catalog, definitions
from dbindex_operator.core import spec as specs

if TYPE_CHECKING:
    from dbindex_operator.core.plan import History

_CONSTRAINTS = {
    "p": "the PRIMARY KEY constraint",
    "u": "a UNIQUE constraint",
    "x": "an EXCLUDE constraint",
    "f": "a FOREIGN KEY constraint that references it",
}


def decide(
    spec: specs.IndexSpec,
    state: catalog.IndexState,
    desired: Mapping[str, Any],
    history: History,
) -> actions.Action:
    """The declared index exists and is valid: Ready, or the next step of replacing it."""
    diffs = tuple(definitions.differences(desired, state.signature or {}))
    where = f"{spec.schema}.{spec.table}"
    if not diffs:
        leftover = cleanup(state, where)
        return leftover or actions.Ready(adopted=not history.built_here)
    index = f"{spec.schema}.{spec.name}"
    started = state.replacement_oid is not None or state.retired_oid is not None
    refused = None if started else refusal(spec, state, history, index, diffs)
    if refused is not None:  # a replacement once started (approved) is carried forward
        return refused
    if state.retired_oid is not None:
        return actions.DropRetired()  # an earlier swap's old index goes first
    if history.failed is not None:
        return history.failed
    if state.replacement_oid is None:
        if state.builder is not None:
            return _busy(state.builder, where)
        if history.retry_in > 0:
            return actions.Wait(
                "Retrying",
                "BackingOff",
                f"next attempt in {history.retry_in:.0f}s after: {history.last_error}",
            )
        drift = "the definition had been changed by hand" if history.was_ready else None
        return actions.BuildReplacement(diffs, drift=drift)
    if state.replacement_building:
        assert state.builder is not None
        return actions.Wait(
            "Replacing",
            "ReplacementBuilding",
            f"backend {state.builder.pid} is building the replacement of {index}",
        )
    if not state.replacement_valid:
        if state.builder is not None:
            return _busy(state.builder, where)
        return actions.DropReplacement()
    if state.replacement_signature is None:
        return actions.Wait("Replacing", "TableLocked", f"{where} is locked; swapping later")
    if definitions.differences(desired, state.replacement_signature):
        return actions.DropReplacement()  # built for an earlier spec
    return actions.Swap()


def cleanup(state: catalog.IndexState, where: str) -> actions.Action | None:
    """Our own replacement/retired leftovers, when the declared index needs no replacing: never
    two valid copies of an index left behind."""
    if state.replacement_oid is not None:
        if state.replacement_building:
            assert state.builder is not None
            return _busy(state.builder, where)
        return actions.DropReplacement()
    if state.retired_oid is not None:
        return actions.DropRetired()
    return None


def refusal(
    spec: specs.IndexSpec,
    state: catalog.IndexState,
    history: History,
    index: str,
    diffs: tuple[str, ...],
) -> actions.Fail | None:
    found = "; ".join(diffs)
    if state.constraint_kind is not None or state.replica_identity:
        owner = _CONSTRAINTS.get(state.constraint_kind or "", "the table's REPLICA IDENTITY")
        return actions.Fail(
            "ConstraintIndex",
            f"{index} backs {owner} ({found}); it is left alone. Change the constraint with "
            "ALTER TABLE (e.g. ADD CONSTRAINT ... USING INDEX with an index built by another "
            "DatabaseIndex), or point this object at a new name",
        )
    if history.managed:
        if spec.replace_on_update or history.approved:
            return None
        return actions.Fail(
            "DefinitionMismatch",
            f"the index differs from the spec ({found}); updatePolicy is Manual: set a new "
            "value of the dbindex.dev/retry annotation to replace it",
        )
    if spec.replace_on_adopt:
        return None
    return actions.Fail(
        "DefinitionMismatch",
        f"a valid index of this name exists with another definition ({found}); it is left "
        "alone (adoptPolicy Refuse; adoptPolicy: Replace replaces it)",
    )


def _busy(builder: catalog.Progress, where: str) -> actions.Wait:
    return actions.Wait(
        "Pending",
        "TableBusy",
        f"backend {builder.pid} is building another index on {where}; "
        "only one build per table runs at a time",
    )
