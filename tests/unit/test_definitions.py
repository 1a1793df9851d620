"""definitions: when the server must normalise, the local signature, and differences."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from dbindex_operator.core import definitions
from tests.unit.builders import SIGNATURE, index_spec


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param({}, False, id="plain-column"),
        pytest.param({"unique": True, "include": ["b"]}, False, id="unique-include"),
        pytest.param({"columns": [{"column": "a", "order": "Desc"}]}, False, id="order"),
        pytest.param({"method": "hash"}, False, id="method"),
        pytest.param({"where": "a > 0"}, True, id="where"),
        pytest.param({"columns": [{"expression": "lower(a)"}]}, True, id="expression"),
        pytest.param({"columns": [{"column": "a", "opclass": "int4_ops"}]}, True, id="opclass"),
        pytest.param({"columns": [{"column": "a", "collation": "C"}]}, True, id="collation"),
        pytest.param({"tablespace": "pg_default"}, True, id="tablespace"),
        pytest.param({"storageParameters": {"fillfactor": "70"}}, True, id="storage-parameters"),
    ],
)
def test_needs_probe(fields: dict[str, Any], expected: bool) -> None:
    assert definitions.needs_probe(index_spec(**fields)) is expected


def _signature(**overrides: Any) -> dict[str, Any]:
    signature: dict[str, Any] = copy.deepcopy(SIGNATURE)
    signature.update(overrides)
    return signature


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param({}, _signature(), id="asc-default-nulls-last"),
        pytest.param(
            {"columns": [{"column": "a", "order": "Desc"}]},
            _signature(keys=[["a", None, None, True, True]]),
            id="desc-default-nulls-first",
        ),
        pytest.param(
            {"columns": [{"column": "a", "order": "Desc", "nulls": "Last"}]},
            _signature(keys=[["a", None, None, True, False]]),
            id="desc-nulls-last",
        ),
        pytest.param(
            {"columns": [{"column": "a", "nulls": "First"}]},
            _signature(keys=[["a", None, None, False, True]]),
            id="asc-nulls-first",
        ),
        pytest.param(
            {"columns": [{"column": "a", "order": "Asc", "nulls": "Last"}]},
            _signature(keys=[["a", None, None, False, False]]),
            id="asc-nulls-last-explicit",
        ),
        pytest.param(
            {"columns": [{"column": "Order Id"}, {"column": "user"}]},
            _signature(
                keys=[
                    ['"Order Id"', None, None, False, False],
                    ['"user"', None, None, False, False],
                ]
            ),
            id="columns-quoted-like-pg-get-indexdef",
        ),
        pytest.param(
            {"method": "hash"},
            _signature(method="hash"),
            id="hash-stores-no-options",
        ),
        pytest.param(
            {"unique": True, "nullsNotDistinct": True, "include": ["b", "Total"]},
            _signature(unique=True, nullsNotDistinct=True, include=["b", '"Total"']),
            id="unique-nulls-not-distinct-include",
        ),
    ],
)
def test_local_signature(fields: dict[str, Any], expected: dict[str, Any]) -> None:
    assert definitions.local_signature(index_spec(**fields)) == expected


def test_local_signature_refuses_specs_that_need_the_server() -> None:
    with pytest.raises(AssertionError, match="needs the server"):
        definitions.local_signature(index_spec(where="a > 0"))


@pytest.mark.parametrize(
    ("desired", "actual", "expected"),
    [
        pytest.param(_signature(), _signature(), [], id="equal"),
        pytest.param(
            _signature(keys=[("customer_id", None, None, False, False)]),
            _signature(),
            [],
            id="tuple-equals-list",
        ),
        pytest.param(
            _signature(unique=True),
            _signature(),
            ["unique: want True, have False"],
            id="unique",
        ),
        pytest.param(
            _signature(keys=[["a", None, None, True, True]]),
            _signature(keys=[["a", None, None, False, False]]),
            ["keys: want [['a', None, None, True, True]], have [['a', None, None, False, False]]"],
            id="sort-order",
        ),
        pytest.param(
            _signature(predicate="(a > 0)", method="gist"),
            _signature(),
            ["method: want 'gist', have 'btree'", "predicate: want '(a > 0)', have None"],
            id="two-fields-sorted-by-name",
        ),
        pytest.param(
            _signature(),
            {**_signature(), "extra": 1},
            ["extra: want None, have 1"],
            id="field-only-in-actual",
        ),
        pytest.param(
            {"method": "btree"},
            {},
            ["method: want 'btree', have None"],
            id="field-only-in-desired",
        ),
    ],
)
def test_differences(desired: dict[str, Any], actual: dict[str, Any], expected: list[str]) -> None:
    assert definitions.differences(desired, actual) == expected
