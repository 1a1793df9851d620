"""The desired definition of an index as a signature comparable with catalog.SIGNATURE.

For plain column keys the signature follows from the spec alone. Expressions, predicates,
explicit opclasses, collations and tablespaces are normalised by PostgreSQL when stored, so for
those the signature comes from a scratch build on the server (db.probe_signature) instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dbindex_operator.core import spec as specs
from dbindex_operator.core import sql


def needs_probe(spec: specs.IndexSpec) -> bool:
    """Whether only PostgreSQL can say what spec's definition becomes once stored: expressions
    and predicates are stored deparsed (casts added), explicit opclasses, collations and
    tablespaces may name the defaults, storage parameter values are normalised (booleans)."""
    return (
        spec.where is not None
        or spec.tablespace is not None
        or bool(spec.storage_parameters)
        or any(
            key.expression is not None or key.opclass is not None or key.collation is not None
            for key in spec.keys
        )
    )


def local_signature(spec: specs.IndexSpec) -> dict[str, Any]:
    """The signature PostgreSQL would report for spec; only valid when not needs_probe(spec)."""
    assert not needs_probe(spec), "spec needs the server to normalise its definition"
    keys = []
    for key in spec.keys:
        assert key.column is not None
        # PostgreSQL's default: NULLS FIRST for DESC, NULLS LAST for ASC; non-ordering access
        # methods store no options at all.
        nulls_first = key.descending if key.nulls_first is None else key.nulls_first
        keys.append([sql.ident(key.column), None, None, key.descending, nulls_first])
    return {
        "method": spec.method,
        "unique": spec.unique,
        "nullsNotDistinct": spec.nulls_not_distinct,
        "keys": keys,
        "include": [sql.ident(column) for column in spec.include],
        "predicate": None,
        "reloptions": sorted(f"{name}={value}" for name, value in spec.storage_parameters),
        "tablespace": None,
    }


def differences(desired: Mapping[str, Any], actual: Mapping[str, Any]) -> list[str]:
    """Human-readable list of the facts that differ (empty when equivalent)."""
    return [
        f"{field}: want {desired.get(field)!r}, have {actual.get(field)!r}"
        for field in sorted(set(desired) | set(actual))
        if _normal(desired.get(field)) != _normal(actual.get(field))
    ]


def _normal(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_normal(item) for item in value]
    return value
