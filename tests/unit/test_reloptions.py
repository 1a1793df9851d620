"""core/reloptions.py: every storage parameter of every access method, its range edges and its
type, read as PostgreSQL 15 reads it. tests/e2e/test_reloptions.py asks the real server about the
same values (CASES here), so this table is also the one that keeps the two in agreement."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from dbindex_operator.core import errors, reloptions
from dbindex_operator.core import spec as specs
from tests.unit.builders import index_spec

ROOT = Path(__file__).resolve().parents[2]

# (method, parameter, value, accepted) -- the range edges of each parameter, and its type.
FILLFACTOR_EDGES = [("9", False), ("10", True), ("100", True), ("101", False)]
BOOLEAN_FORMS = [
    *((v, True) for v in ("on", "off", "true", "false", "yes", "no", "1", "0")),
    *((v, True) for v in ("ON", "Off", "TRUE", "False", "YES", "No")),
    *((v, True) for v in ("t", "tr", "tru", "f", "fa", "fals", "y", "ye", "n", "of")),
    *((v, False) for v in ("o", "onn", "offf", "truee", "yess", "2", "01", "00", "10")),
    *((v, False) for v in (" on", "on ", "enabled", "null", "-1", "on;", "ön")),
]
INTEGER_FORMS = [  # on fillfactor (10..100)
    ("+50", True),
    ("-50", False),
    (" 50", True),
    ("50 ", True),
    ("\t50\n", True),
    ("0x5A", True),  # strtol base 0: hex
    ("0X5a", True),
    ("012", True),  # octal 10
    ("010", False),  # octal 8
    ("08", False),  # not octal
    ("0x", False),
    ("50.4", True),  # re-read as a float, rounded
    ("9.5", True),  # rint: half to even, 10
    ("10.5", True),  # 10
    ("100.5", True),  # 100
    ("101.5", False),  # 102
    ("9.4", False),
    ("5e1", True),
    ("1E2", True),
    (".5e2", True),
    ("0x5A.8", True),  # hex float 90.5 -> 90
    ("1e", False),
    ("50 x", False),
    ("50%", False),
    ("5 0", False),
    ("fifty", False),
    ("", False),
    (" ", False),
    ("+", False),
    ("-.5e2", False),  # strtol reads no digits and stops at '-', not '.'
    (" .5e2", False),  # ... or at the space
    ("nan", False),
    ("inf", False),
    ("1e400", False),
    ("9223372036854775808", False),  # overflows strtol, then int
    ("5_0", False),
    ("\u0665\u0660", False),  # Arabic-Indic digits: not C digits
]
GIN_PENDING_LIST_LIMIT_EDGES = [
    ("63", False),
    ("64", True),
    ("2147483647", True),
    ("2147483648", False),
    ("2147483647.4", True),
    ("2147483647.5", False),  # rounds to 2^31
    ("64kB", False),  # reloptions take no units
    ("4MB", False),
]
PAGES_PER_RANGE_EDGES = [("0", False), ("1", True), ("131072", True), ("131073", False)]
SCALE_FACTOR_FORMS = [  # btree vacuum_cleanup_index_scale_factor, a real from 0 to 1e10
    ("0", True),
    ("-0", True),
    ("0.5", True),
    (" 0.5 ", True),
    ("1e10", True),
    ("10000000000", True),
    ("1.00001e10", False),
    ("-0.001", False),
    ("0x10", True),
    ("nan", False),
    ("inf", False),
    ("-inf", False),
    ("1e-400", False),  # underflow: ERANGE
    ("0e-400", True),
    ("0.5x", False),
    ("", False),
]
BUFFERING_FORMS = [
    ("on", True),
    ("off", True),
    ("auto", True),
    ("AUTO", True),
    ("Off", True),
    ("true", False),  # an enum, not a boolean
    ("1", False),
    ("of", False),
    ("au", False),
    (" auto", False),
    ("invalid", False),
]

CASES: list[tuple[str, str, str, bool]] = [
    *(("btree", "fillfactor", v, ok) for v, ok in FILLFACTOR_EDGES + INTEGER_FORMS),
    *(("btree", "deduplicate_items", v, ok) for v, ok in BOOLEAN_FORMS),
    *(("btree", "vacuum_cleanup_index_scale_factor", v, ok) for v, ok in SCALE_FACTOR_FORMS),
    *(("hash", "fillfactor", v, ok) for v, ok in FILLFACTOR_EDGES),
    *(("gist", "fillfactor", v, ok) for v, ok in FILLFACTOR_EDGES),
    *(("gist", "buffering", v, ok) for v, ok in BUFFERING_FORMS),
    *(("spgist", "fillfactor", v, ok) for v, ok in FILLFACTOR_EDGES),
    *(("gin", "fastupdate", v, ok) for v, ok in BOOLEAN_FORMS),
    *(("gin", "gin_pending_list_limit", v, ok) for v, ok in GIN_PENDING_LIST_LIMIT_EDGES),
    *(("brin", "autosummarize", v, ok) for v, ok in BOOLEAN_FORMS),
    *(("brin", "pages_per_range", v, ok) for v, ok in PAGES_PER_RANGE_EDGES),
]

# Each method's parameters, and the ones of other methods it does not have.
KNOWN = {
    "btree": ("deduplicate_items", "fillfactor", "vacuum_cleanup_index_scale_factor"),
    "hash": ("fillfactor",),
    "gist": ("buffering", "fillfactor"),
    "spgist": ("fillfactor",),
    "gin": ("fastupdate", "gin_pending_list_limit"),
    "brin": ("autosummarize", "pages_per_range"),
}
ALL_NAMES = sorted({name for names in KNOWN.values() for name in names})


@pytest.mark.parametrize(
    ("method", "name", "value", "accepted"),
    [pytest.param(*case, id=f"{case[0]}-{case[1]}-{case[2]!r}") for case in CASES],
)
def test_values(method: str, name: str, value: str, accepted: bool) -> None:
    if accepted:
        reloptions.check(method, name, value)
        return
    with pytest.raises(errors.SpecError) as info:
        reloptions.check(method, name, value)
    assert info.value.message.startswith(f"storageParameters.{name} must be ")
    assert info.value.message.endswith(f" for {method} indexes, got {value!r}")


def test_every_parameter_has_cases() -> None:
    covered = {(method, name) for method, name, _, _ in CASES}
    assert covered == {(m, n) for m, names in KNOWN.items() for n in names}
    for method, name in covered:
        outcomes = {ok for m, n, _, ok in CASES if (m, n) == (method, name)}
        assert outcomes == {True, False}, (method, name)


def test_the_methods_and_their_parameters() -> None:
    assert set(reloptions.PARAMETERS) == set(specs.METHODS)
    assert {method: reloptions.known(method) for method in specs.METHODS} == KNOWN


@pytest.mark.parametrize(
    ("method", "name"),
    [
        pytest.param(method, name, id=f"{method}-{name}")
        for method in KNOWN
        for name in [*ALL_NAMES, "autovacuum_enabled", "parallel_workers", "toast_tuple_target"]
        if name not in KNOWN[method]
    ],
)
def test_parameters_of_other_methods_and_of_tables_are_unknown(method: str, name: str) -> None:
    with pytest.raises(errors.SpecError) as info:
        reloptions.check(method, name, "on")
    assert info.value.message == (
        f"storageParameters: {name!r} is not a storage parameter of {method} indexes "
        f"(valid: {', '.join(KNOWN[method])})"
    )


@pytest.mark.parametrize(
    ("method", "name", "value", "message"),
    [
        pytest.param(
            "btree",
            "fillfactor",
            "9",
            "storageParameters.fillfactor must be an integer from 10 to 100 for btree indexes, "
            "got '9'",
            id="integer",
        ),
        pytest.param(
            "gin",
            "gin_pending_list_limit",
            "4MB",
            "storageParameters.gin_pending_list_limit must be an integer from 64 to 2147483647 "
            "for gin indexes, got '4MB'",
            id="integer-no-units",
        ),
        pytest.param(
            "gist",
            "buffering",
            "invalid",
            "storageParameters.buffering must be one of on, off, auto for gist indexes, "
            "got 'invalid'",
            id="enum",
        ),
        pytest.param(
            "brin",
            "autosummarize",
            "enabled",
            "storageParameters.autosummarize must be a boolean (on/off, true/false, yes/no or "
            "1/0) for brin indexes, got 'enabled'",
            id="boolean",
        ),
        pytest.param(
            "btree",
            "vacuum_cleanup_index_scale_factor",
            "2e10",
            "storageParameters.vacuum_cleanup_index_scale_factor must be a number from 0 to "
            "10000000000 for btree indexes, got '2e10'",
            id="real",
        ),
    ],
)
def test_messages(method: str, name: str, value: str, message: str) -> None:
    with pytest.raises(errors.SpecError) as info:
        reloptions.check(method, name, value)
    assert info.value.message == message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", True),
        ("t", True),
        ("No", False),
        ("of", False),
        ("1", True),
        ("0", False),
        ("o", None),
        ("", None),
        ("TRUE ", None),
    ],
)
def test_parse_bool(value: str, expected: bool | None) -> None:
    assert reloptions.parse_bool(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("42", 42),
        ("-7", -7),
        ("0x10", 16),
        ("-0x10", -16),
        ("017", 15),
        ("0", 0),
        ("2.5", 2),
        ("3.5", 4),
        ("-2.5", -2),
        (".5", 0),
        ("1e3", 1000),
        ("-2147483648", -(2**31)),
        ("-2147483649", None),
        ("0x1p4", None),  # strtol stops at 'p': not re-read as a float
        ("12abc", None),
    ],
)
def test_parse_int(value: str, expected: int | None) -> None:
    assert reloptions.parse_int(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1.5", 1.5),
        ("-1e3", -1000.0),
        ("0x1p4", 16.0),
        (".5", 0.5),
        ("5.", 5.0),
        ("inf", float("inf")),
        ("nan", None),
        ("1e400", None),
        ("1.5.", None),
    ],
)
def test_parse_real(value: str, expected: float | None) -> None:
    assert reloptions.parse_real(value) == expected


@pytest.mark.parametrize(
    ("method", "params"),
    [
        pytest.param("btree", {"fillfactor": "9"}, id="btree-fillfactor"),
        pytest.param("gist", {"buffering": "invalid"}, id="gist-buffering"),
        pytest.param("hash", {"deduplicate_items": "on"}, id="hash-deduplicate"),
        pytest.param("brin", {"pages_per_range": "0"}, id="brin-pages"),
    ],
)
def test_spec_parse_refuses(method: str, params: dict[str, Any]) -> None:
    """Where the spec is parsed: the operator, the importer and `plan` all go through here."""
    columns = [{"column": "a", "opclass": "x"}] if method != "btree" else [{"column": "a"}]
    with pytest.raises(errors.SpecError) as info:
        index_spec(method=method, columns=columns, storageParameters=params)
    assert info.value.reason == "InvalidSpec"


def test_the_examples_values_pass() -> None:
    """examples/full.yaml: fillfactor "90" and deduplicate_items "on" on a btree."""
    spec = index_spec(storageParameters={"fillfactor": "90", "deduplicate_items": "on"})
    assert spec.storage_parameters == (("deduplicate_items", "on"), ("fillfactor", "90"))


def test_the_crd_lists_the_same_names() -> None:
    """The CRD's own rule (crds/) refuses a name no method has, before the operator sees it."""
    crd = yaml.safe_load((ROOT / "crds" / "databaseindexes.dbindex.dev.yaml").read_text())
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    rules = spec["properties"]["storageParameters"]["x-kubernetes-validations"]
    listed = [r for r in rules if " in [" in r["rule"]]
    assert len(listed) == 1
    names = re.findall(r"'([a-z_]+)'", listed[0]["rule"])
    assert names == ALL_NAMES
    for name in ALL_NAMES:
        assert name in listed[0]["message"]
