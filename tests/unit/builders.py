"""Small builders shared by the pure unit tests: spec dicts as the API server returns them."""

from __future__ import annotations

from typing import Any

from dbindex_operator.core import spec as specs


def spec_dict(**fields: Any) -> dict[str, Any]:
    """A minimal valid DatabaseIndex spec; keyword arguments replace or add top-level fields."""
    base: dict[str, Any] = {
        "connection": {"secretRef": {"name": "db"}},
        "table": "orders",
        "columns": [{"column": "customer_id"}],
    }
    base.update(fields)
    return base


def index_spec(object_name: str = "orders-by-customer", **fields: Any) -> specs.IndexSpec:
    return specs.parse(spec_dict(**fields), object_name=object_name)


# The catalog signature (core/signature.py) of index_spec()'s index, as PostgreSQL reports it.
SIGNATURE = {
    "method": "btree",
    "unique": False,
    "nullsNotDistinct": False,
    "keys": [["customer_id", None, None, False, False]],
    "include": [],
    "predicate": None,
    "reloptions": [],
    "tablespace": None,
}
