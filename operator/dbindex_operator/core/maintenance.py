"""Scheduled maintenance of a Ready index: REINDEX CONCURRENTLY on bloat or corruption, amcheck
verification, and the leftovers of a reindex that died. Pure: the clock and the last health
observation (status.health) come in as arguments.

What is decided from where (nothing from memory a crash could lose):
- leftovers: the catalog (INVALID `<name>_ccnew` / `_ccold` on the table, names.py), dropped only
  while no backend runs CREATE INDEX or REINDEX on the table (a live reindex's copy is INVALID too);
- bloat: status.health.bloatPercent of a health pass read after the last reindex;
- corruption and the last check: status.health.verifyResult / verifiedAt, which the verify
  executor writes (so a restart neither forgets a corrupt index nor re-checks at once).
A bloat-triggered reindex runs at most once per `cooldown`: an estimate that stays high after a
fresh build (README: its error bounds) must not rebuild the index every health pass.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping
from typing import Any, Final

from dbindex_operator.core import actions, catalog, errors

PASSED, CORRUPT, UNAVAILABLE = "Passed", "Corrupt", "Unavailable"
# amcheck's SQLSTATEs for a damaged index or heap (XX002 index_corrupted, XX001 data_corrupted).
CORRUPTION_SQLSTATES: Final = frozenset({"XX001", "XX002"})
# status.health fields the maintenance executors write; a health pass carries them over.
CARRIED: Final = ("verifiedAt", "verifyResult", "verifyMessage", "reindexedAt", "reindexReason")


@dataclasses.dataclass(frozen=True)
class Policy:
    """spec.maintenance."""

    reindex_above: float | None = None  # reindexWhenBloatPercentAbove; None: never on bloat
    verify: bool = False  # amcheck's bt_index_check on btree indexes, once per verify interval


def parse(raw: Any) -> Policy:
    if not isinstance(raw, Mapping):
        raise errors.SpecError("maintenance must be an object")
    above = raw.get("reindexWhenBloatPercentAbove")
    if above is not None:
        if isinstance(above, bool) or not isinstance(above, (int, float)) or not 0 <= above < 100:
            raise errors.SpecError(
                "maintenance.reindexWhenBloatPercentAbove must be a number from 0 to 99.9"
            )
        above = float(above)
    verify = raw.get("verify", False)
    if not isinstance(verify, bool):
        raise errors.SpecError("maintenance.verify must be true or false")
    return Policy(above, verify)


def decide(
    policy: Policy | None,
    method: str,
    state: catalog.IndexState,
    health: Mapping[str, Any] | None,
    *,
    now: datetime.datetime,
    hold: float,
    verify_every: float,
    cooldown: float,
) -> actions.Action | None:
    """The maintenance a Ready index needs now (None: none). `hold`: seconds until a failed
    maintenance step may be tried again (a failed reindex's copy is dropped after it, too)."""
    if state.builder is not None or hold > 0:
        return None  # one DDL per table: never queue behind a build or a live reindex
    if state.reindex_leftovers:
        return actions.DropReindexLeftover(state.reindex_leftovers[0])
    if policy is None:
        return None
    health = health or {}
    if health.get("verifyResult") == CORRUPT:
        return actions.Reindex(
            "IndexCorrupt", f"amcheck found corruption: {health.get('verifyMessage', '')}"
        )
    bloat, above = health.get("bloatPercent"), policy.reindex_above
    if (
        above is not None
        and isinstance(bloat, (int, float))
        and bloat > above
        and _bloat_is_new(health, now, cooldown)
    ):
        return actions.Reindex(
            "IndexBloated",
            f"estimated bloat {bloat}% is above reindexWhenBloatPercentAbove {above:g}%",
        )
    if policy.verify and method == "btree":
        verified = _time(health.get("verifiedAt"))
        if verified is None or (now - verified).total_seconds() >= verify_every:
            return actions.Verify()
    return None


def _bloat_is_new(health: Mapping[str, Any], now: datetime.datetime, cooldown: float) -> bool:
    """The estimate was read after the last reindex, which is at least `cooldown` ago."""
    last = _time(health.get("reindexedAt"))
    if last is None:
        return True
    checked = _time(health.get("checkedAt"))
    return checked is not None and checked > last and (now - last).total_seconds() >= cooldown


def after_reindex(
    health: Mapping[str, Any] | None, *, reason: str, now: datetime.datetime
) -> dict[str, Any]:
    """status.health once a reindex finished: the size and bloat read before it are stale until
    the next health pass; a corrupt verdict is gone, and the new index is verified again."""
    kept = {
        key: value
        for key, value in (health or {}).items()
        if key not in ("bloatPercent", "verifiedAt", "verifyResult", "verifyMessage")
    }
    return {**kept, "reindexedAt": iso(now), "reindexReason": reason}


def after_verify(
    health: Mapping[str, Any] | None, *, result: str, message: str, now: datetime.datetime
) -> dict[str, Any]:
    return {
        **(health or {}),
        "verifiedAt": iso(now),
        "verifyResult": result,
        "verifyMessage": message,
    }


def iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _time(value: Any) -> datetime.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
