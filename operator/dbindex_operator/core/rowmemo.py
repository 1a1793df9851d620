"""Last pass's parse of each catalog row, reused when the row comes back unchanged.

An idle fleet's resync pass reads the same rows every DBINDEX_RESYNC_INTERVAL: turning each into
an IndexState (JSON signatures, a frozen dataclass of twenty fields) was a third of an idle
operator's CPU at 10,000 objects. An equal row gives back the very same IndexState object, which
also lets the scheduler recognise an object whose inputs did not change (tracking.same_inputs)
and skip deciding it again. Nothing is reused across a different row, target or server version:
the memo only saves work, it never stands in for the catalog.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from dbindex_operator.core import catalog

Target = tuple[str, str, str]  # schema, table, index
# target -> (server version, the row as read, the state parsed from it)
Memo = dict[Target, tuple[int, Any, catalog.IndexState]]


def states(
    targets: Sequence[Target],
    rows: Iterable[Mapping[str, Any]],
    version: int,
    previous: Memo,
) -> tuple[list[catalog.IndexState], Memo]:
    """One state per target (rows come in the targets' order), and the memo entries of these
    targets for the next pass."""
    memo: Memo = {}
    result = []
    for target, row in zip(targets, rows, strict=True):
        known = previous.get(target)
        if known is not None and known[0] == version and known[1] == row:
            state = known[2]
        else:
            state = dataclasses.replace(catalog.state_from_row(row), server_version=version)
        memo[target] = (version, row, state)
        result.append(state)
    return result, memo


def keep(memo: Memo, targets: Iterable[Target]) -> Memo:
    """Only these targets' entries: after a pass over every object, a forgotten object's row
    does not stay in memory."""
    return {target: memo[target] for target in targets if target in memo}
