"""The storage parameters (reloptions) of each index access method, checked as PostgreSQL 15 does.

`WITH (fillfactor = '9')` on a btree, `buffering = 'invalid'` on a gist or a parameter the method
does not have are errors PostgreSQL raises only when CREATE INDEX runs. Checking them here, where
the spec is parsed (core/spec.py), makes the operator, the importer and `dbindex-operator plan`
refuse them before any SQL runs.

The table is src/backend/access/common/reloptions.c of PostgreSQL 15 (boolRelOpts, intRelOpts,
realRelOpts, enumRelOpts) for the six built-in index methods, and a value is read the way that
file reads it: parse_bool (utils/adt/bool.c) for booleans, parse_int and parse_real
(utils/misc/guc.c, no units) for numbers, a case-insensitive match for enums. So a value is
refused here exactly when PostgreSQL would refuse it (tests/e2e/test_reloptions.py compares the
two). The value itself is kept as the user wrote it: PostgreSQL stores that text.
"""

from __future__ import annotations

import dataclasses
import math
import re
import sys
from collections.abc import Mapping
from typing import Literal

from dbindex_operator.core import errors

INT_MAX = 2**31 - 1
INT_MIN = -(2**31)
MAX_KILOBYTES = INT_MAX  # guc.h, on 64-bit platforms
_LONG_MAX = 2**63 - 1  # strtol's range (64-bit long)
_LONG_MIN = -(2**63)
_SPACE = " \t\n\v\f\r"  # C isspace()

Kind = Literal["bool", "int", "real", "enum"]


@dataclasses.dataclass(frozen=True)
class Parameter:
    kind: Kind
    low: float = 0
    high: float = 0
    choices: tuple[str, ...] = ()  # enum values, compared case-insensitively

    def accepts(self, value: str) -> bool:
        if self.kind == "bool":
            return parse_bool(value) is not None
        if self.kind == "enum":
            return value.isascii() and value.lower() in self.choices
        number = parse_int(value) if self.kind == "int" else parse_real(value)
        return number is not None and self.low <= number <= self.high

    def expected(self) -> str:
        """What a valid value looks like, for error messages."""
        if self.kind == "bool":
            return "a boolean (on/off, true/false, yes/no or 1/0)"
        if self.kind == "enum":
            return f"one of {', '.join(self.choices)}"
        noun = "an integer" if self.kind == "int" else "a number"
        return f"{noun} from {_number(self.low)} to {_number(self.high)}"


def _fillfactor() -> Parameter:
    return Parameter("int", 10, 100)  # {BTREE,HASH,GIST,SPGIST}_MIN_FILLFACTOR .. 100


def _bool() -> Parameter:
    return Parameter("bool")


PARAMETERS: Mapping[str, Mapping[str, Parameter]] = {
    "btree": {
        "deduplicate_items": _bool(),
        "fillfactor": _fillfactor(),
        # Deprecated and ignored since PostgreSQL 13.3, still accepted.
        "vacuum_cleanup_index_scale_factor": Parameter("real", 0.0, 1e10),
    },
    "hash": {"fillfactor": _fillfactor()},
    "gist": {
        "buffering": Parameter("enum", choices=("on", "off", "auto")),
        "fillfactor": _fillfactor(),
    },
    "spgist": {"fillfactor": _fillfactor()},
    "gin": {
        "fastupdate": _bool(),
        "gin_pending_list_limit": Parameter("int", 64, MAX_KILOBYTES),  # kB
    },
    "brin": {
        "autosummarize": _bool(),
        "pages_per_range": Parameter("int", 1, 131072),
    },
}


def known(method: str) -> tuple[str, ...]:
    """The storage parameters of an access method, sorted."""
    return tuple(sorted(PARAMETERS.get(method, {})))


def check(method: str, name: str, value: str) -> None:
    """Raise SpecError unless PostgreSQL 15 would accept `WITH (name = 'value')` on `method`."""
    parameter = PARAMETERS.get(method, {}).get(name)
    if parameter is None:
        valid = ", ".join(known(method)) or "none"
        raise errors.SpecError(
            f"storageParameters: {name!r} is not a storage parameter of {method} indexes "
            f"(valid: {valid})"
        )
    if not parameter.accepts(value):
        raise errors.SpecError(
            f"storageParameters.{name} must be {parameter.expected()} for {method} indexes, "
            f"got {value!r}"
        )


def parse_bool(value: str) -> bool | None:
    """parse_bool of utils/adt/bool.c: true/false/yes/no and their unique prefixes, on/off (and
    "of"), 1/0; ASCII case-insensitive; no surrounding spaces. None when it is none of these."""
    if not value.isascii():
        return None
    text = value.lower()
    for word, meaning in (("true", True), ("false", False), ("yes", True), ("no", False)):
        if text[:1] == word[0]:
            return meaning if word.startswith(text) else None
    if text == "on":
        return True
    if text in ("of", "off"):
        return False
    return {"1": True, "0": False}.get(text)


# strtol(value, &end, 0): spaces, a sign, then hex (0x...), octal (0...) or decimal digits.
_STRTOL = re.compile(r"[ \t\n\v\f\r]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")
# strtod(value, &end) in the C locale: spaces, a sign, then a hex or decimal float, inf or nan.
_STRTOD = re.compile(
    r"[ \t\n\v\f\r]*[+-]?(?:"
    r"(?P<hex>0x(?:[0-9a-f]+\.?[0-9a-f]*|\.[0-9a-f]+)(?:p[+-]?[0-9]+)?)"
    r"|(?P<dec>(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:e[+-]?[0-9]+)?)"
    r"|(?P<inf>inf(?:inity)?)"
    r"|(?P<nan>nan(?:\([0-9a-z_]*\))?)"
    r")",
    re.IGNORECASE,
)


def _strtod(value: str) -> tuple[float, int] | None:
    """The number strtod reads at the start of `value` and where it stops; None when it reads
    nothing or the number is out of range (errno ERANGE: overflow, or underflow to a subnormal
    or zero)."""
    match = _STRTOD.match(value)
    if match is None:
        return None
    text = match.group(0).lstrip(_SPACE)
    negative = text.startswith("-")
    if match["nan"]:
        return math.nan, match.end()
    if match["inf"]:
        return (-math.inf if negative else math.inf), match.end()
    try:
        number = float.fromhex(text) if match["hex"] else float(text)
    except OverflowError:
        return None
    mantissa = (match["hex"] or match["dec"] or "").lower()
    mantissa = mantissa[2:].split("p")[0] if match["hex"] else mantissa.split("e")[0]
    nonzero = any(c not in "0." for c in mantissa)
    if math.isinf(number) or (nonzero and abs(number) < sys.float_info.min):
        return None
    return number, match.end()


def parse_int(value: str) -> int | None:
    """parse_int of utils/misc/guc.c without units: a C integer (decimal, 0x hex, 0 octal),
    re-read as a float when it stops at '.', 'e' or 'E' or overflows, spaces around, rounded
    half to even (rint); None unless it fits in an int."""
    match = _STRTOL.match(value)
    end, number, out_of_range = 0, 0.0, False
    if match is not None:
        sign, digits = match.groups()
        base = 16 if digits[1:2] in ("x", "X") else 8 if digits.startswith("0") else 10
        whole = int(digits, base) * (-1 if sign == "-" else 1)
        end, number, out_of_range = match.end(), float(whole), not _LONG_MIN <= whole <= _LONG_MAX
    if value[end : end + 1] in (".", "e", "E") or out_of_range:
        parsed = _strtod(value)
        if parsed is None:
            return None
        number, end = parsed
    elif match is None:
        return None
    if math.isnan(number) or value[end:].lstrip(_SPACE):
        return None
    if math.isinf(number):
        return None
    rounded = round(number)  # half to even, as rint() in the default rounding mode
    return rounded if INT_MIN <= rounded <= INT_MAX else None


def parse_real(value: str) -> float | None:
    """parse_real of utils/misc/guc.c without units: strtod, spaces after, no NaN."""
    parsed = _strtod(value)
    if parsed is None:
        return None
    number, end = parsed
    if math.isnan(number) or value[end:].lstrip(_SPACE):
        return None
    return number


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
