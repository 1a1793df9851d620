"""IndexSpec: a DatabaseIndex's spec parsed and validated once into a frozen, I/O-free model.

Defaults live here and nowhere else. Anything that would make unsafe or meaningless SQL raises
errors.SpecError with a message a user can act on; the CRD's own validation rules catch most of
it earlier, this is the line that protects the database when they are bypassed.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from dbindex_operator.core import errors, fragments, maintenance, reloptions, windows

METHODS = ("btree", "hash", "gist", "spgist", "gin", "brin")
INCLUDE_METHODS = ("btree", "gist", "spgist")
MAX_IDENTIFIER_BYTES = 63
_DURATION = re.compile(r"^[0-9]+(us|ms|s|min|h|d)?\Z")
_MEMORY = re.compile(r"^[0-9]+(kB|MB|GB|TB)?\Z")
_STORAGE_PARAMETER = re.compile(r"^[a-z_][a-z0-9_]*\Z")
_UNSAFE_IDENTIFIER = re.compile(r'[";\\\x00-\x1f\x7f]|--|/\*|\*/')


@dataclasses.dataclass(frozen=True)
class ConnectionRef:
    secret_name: str
    key: str | None = None  # None: `dsn` if present, else discrete host/port/dbname/... keys


@dataclasses.dataclass(frozen=True)
class IndexKey:
    column: str | None = None
    expression: str | None = None
    descending: bool = False
    nulls_first: bool | None = None  # None: PostgreSQL's default for the direction
    opclass: str | None = None
    collation: str | None = None


@dataclasses.dataclass(frozen=True)
class BuildOptions:
    lock_timeout: str = "1min"
    statement_timeout: str = "0"
    maintenance_work_mem: str | None = None
    parallel_workers: int | None = None


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    initial_backoff: float = 10.0
    max_backoff: float = 600.0

    def delay(self, attempts: int) -> float:
        """Seconds to wait after the given number of failed attempts (1 = the first failure)."""
        exponent = max(attempts - 1, 0)
        return float(min(self.max_backoff, self.initial_backoff * (2 ** min(exponent, 30))))


@dataclasses.dataclass(frozen=True)
class IndexSpec:
    connection: ConnectionRef
    schema: str
    table: str
    name: str
    keys: tuple[IndexKey, ...]
    method: str = "btree"
    unique: bool = False
    include: tuple[str, ...] = ()
    where: str | None = None
    nulls_not_distinct: bool = False
    tablespace: str | None = None
    storage_parameters: tuple[tuple[str, str], ...] = ()  # sorted by name
    delete_with_object: bool = False  # deletionPolicy: Delete
    replace_on_update: bool = True  # updatePolicy: Replace (False: Manual)
    replace_on_adopt: bool = False  # adoptPolicy: Replace (False: Refuse)
    paused: bool = False  # plan only: read the catalog, write status.plan, execute nothing
    window: windows.Policy | None = None  # None: the operator's default (or always)
    maintenance: maintenance.Policy | None = None  # None: no scheduled reindex or verify
    build: BuildOptions = BuildOptions()
    retry: RetryPolicy = RetryPolicy()


def default_index_name(object_name: str) -> str:
    return object_name.replace("-", "_")


def parse(spec: Mapping[str, Any], *, object_name: str) -> IndexSpec:
    """Parse a DatabaseIndex spec (as the API server returns it) or raise SpecError."""
    try:
        return _parse(spec, object_name)
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        raise errors.SpecError(f"malformed spec: {exc}") from None


def _parse(spec: Mapping[str, Any], object_name: str) -> IndexSpec:
    method = spec.get("method", "btree")
    if method not in METHODS:
        raise errors.SpecError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    unique = bool(spec.get("unique", False))
    if unique and method != "btree":
        raise errors.SpecError("unique indexes are supported only by btree")
    nulls_not_distinct = bool(spec.get("nullsNotDistinct", False))
    if nulls_not_distinct and not unique:
        raise errors.SpecError("nullsNotDistinct requires unique")

    columns = spec.get("columns") or []
    if not columns:
        raise errors.SpecError("at least one column is required")
    keys = tuple(_key(entry, i, method) for i, entry in enumerate(columns))
    include = tuple(identifier(c, f"include[{i}]") for i, c in enumerate(spec.get("include", [])))
    if include and method not in INCLUDE_METHODS:
        raise errors.SpecError("include is supported only by btree, gist and spgist")

    where = spec.get("where")
    tablespace = spec.get("tablespace")
    policy = spec.get("deletionPolicy", "Retain")
    if policy not in ("Retain", "Delete"):
        raise errors.SpecError(f"deletionPolicy must be Retain or Delete, got {policy!r}")
    update_policy = _choice(spec, "updatePolicy", ("Replace", "Manual"))
    adopt_policy = _choice(spec, "adoptPolicy", ("Refuse", "Replace"))
    paused = spec.get("paused", False)
    if not isinstance(paused, bool):
        raise errors.SpecError("paused must be true or false")
    secret_ref = spec["connection"]["secretRef"]
    key = secret_ref.get("key")
    return IndexSpec(
        connection=ConnectionRef(
            secret_name=_nonempty(secret_ref["name"], "connection.secretRef.name"),
            key=None if key is None else _nonempty(key, "connection.secretRef.key"),
        ),
        schema=identifier(spec.get("schema", "public"), "schema"),
        table=identifier(spec["table"], "table"),
        name=identifier(spec.get("name") or default_index_name(object_name), "name"),
        keys=keys,
        method=method,
        unique=unique,
        include=include,
        where=None if where is None else fragments.predicate(where),
        nulls_not_distinct=nulls_not_distinct,
        tablespace=None if tablespace is None else identifier(tablespace, "tablespace"),
        storage_parameters=_storage_parameters(spec.get("storageParameters") or {}, method),
        delete_with_object=policy == "Delete",
        replace_on_update=update_policy == "Replace",
        replace_on_adopt=adopt_policy == "Replace",
        paused=paused,
        window=None if spec.get("window") is None else windows.parse(spec["window"]),
        maintenance=(
            None if spec.get("maintenance") is None else maintenance.parse(spec["maintenance"])
        ),
        build=_build(spec.get("build") or {}),
        retry=_retry(spec.get("retry") or {}),
    )


def _choice(spec: Mapping[str, Any], field: str, allowed: tuple[str, ...]) -> str:
    """An enum field; the first allowed value is the default."""
    value = spec.get(field, allowed[0])
    if value not in allowed:
        raise errors.SpecError(f"{field} must be {' or '.join(allowed)}, got {value!r}")
    return str(value)


def identifier(value: Any, field: str) -> str:
    """A catalog name, taken literally (case-sensitive) and quoted by sql.ident.

    At most 63 bytes. Quoting alone makes any name safe, but names that carry statement or
    comment syntax are refused outright: no real schema needs them, and an identifier that looks
    like an injection is one we would rather explain than build.
    """
    if not isinstance(value, str) or not value:
        raise errors.SpecError(f"{field} must be a non-empty string")
    if len(value.encode()) > MAX_IDENTIFIER_BYTES:
        raise errors.SpecError(f"{field} is longer than {MAX_IDENTIFIER_BYTES} bytes: {value!r}")
    if _UNSAFE_IDENTIFIER.search(value):
        raise errors.SpecError(
            f"{field} {value!r} contains characters not allowed in names here "
            "(quotes, ';', backslashes, control characters or comment markers)"
        )
    return value


def _nonempty(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise errors.SpecError(f"{field} must be a non-empty string")
    return value


def _key(entry: Mapping[str, Any], index: int, method: str) -> IndexKey:
    where = f"columns[{index}]"
    column, expression = entry.get("column"), entry.get("expression")
    if (column is None) == (expression is None):
        raise errors.SpecError(f"{where} needs exactly one of column or expression")
    order, nulls = entry.get("order"), entry.get("nulls")
    if order not in (None, "Asc", "Desc"):
        raise errors.SpecError(f"{where}.order must be Asc or Desc")
    if nulls not in (None, "First", "Last"):
        raise errors.SpecError(f"{where}.nulls must be First or Last")
    if (order or nulls) and method != "btree":
        raise errors.SpecError(f"{where}: order and nulls are supported only by btree")
    opclass, collation = entry.get("opclass"), entry.get("collation")
    return IndexKey(
        column=None if column is None else identifier(column, f"{where}.column"),
        expression=(
            None
            if expression is None
            else fragments.expression(expression, what=f"{where}.expression")
        ),
        descending=order == "Desc",
        nulls_first=None if nulls is None else nulls == "First",
        opclass=None if opclass is None else _opclass(opclass, f"{where}.opclass"),
        collation=None if collation is None else identifier(collation, f"{where}.collation"),
    )


def _opclass(value: Any, field: str) -> str:
    """`opclass` or `schema.opclass`: each part a valid identifier."""
    if not isinstance(value, str):
        raise errors.SpecError(f"{field} must be a string")
    for part in value.split(".", 1):
        identifier(part, field)
    return value


def _storage_parameters(params: Mapping[str, Any], method: str) -> tuple[tuple[str, str], ...]:
    """Names and values checked against the method's own (core/reloptions.py); values kept as
    written, since PostgreSQL stores that text."""
    result = []
    for name, value in sorted(params.items()):
        if not _STORAGE_PARAMETER.match(name) or len(name) > MAX_IDENTIFIER_BYTES:
            raise errors.SpecError(f"storageParameters: invalid parameter name {name!r}")
        if not isinstance(value, str) or not value or "\x00" in value:
            raise errors.SpecError(f"storageParameters.{name} must be a non-empty string")
        reloptions.check(method, name, value)
        result.append((name, value))
    return tuple(result)


def _build(build: Mapping[str, Any]) -> BuildOptions:
    defaults = BuildOptions()
    lock_timeout = build.get("lockTimeout", defaults.lock_timeout)
    statement_timeout = build.get("statementTimeout", defaults.statement_timeout)
    for field, value in (("lockTimeout", lock_timeout), ("statementTimeout", statement_timeout)):
        if not isinstance(value, str) or not _DURATION.match(value):
            raise errors.SpecError(f"build.{field} must be a duration like 30s or 5min")
    memory = build.get("maintenanceWorkMem")
    if memory is not None and (not isinstance(memory, str) or not _MEMORY.match(memory)):
        raise errors.SpecError("build.maintenanceWorkMem must be a size like 256MB")
    workers = build.get("parallelWorkers")
    bad_type = not isinstance(workers, int) or isinstance(workers, bool)
    if workers is not None and (bad_type or not 0 <= workers <= 64):
        raise errors.SpecError("build.parallelWorkers must be an integer from 0 to 64")
    return BuildOptions(lock_timeout, statement_timeout, memory, workers)


def _retry(retry: Mapping[str, Any]) -> RetryPolicy:
    defaults = RetryPolicy()
    policy = RetryPolicy(
        max_attempts=int(retry.get("maxAttempts", defaults.max_attempts)),
        initial_backoff=float(retry.get("initialBackoffSeconds", defaults.initial_backoff)),
        max_backoff=float(retry.get("maxBackoffSeconds", defaults.max_backoff)),
    )
    if policy.max_attempts < 1 or policy.initial_backoff <= 0 or policy.max_backoff <= 0:
        raise errors.SpecError("retry values must be positive")
    if policy.max_backoff < policy.initial_backoff:
        raise errors.SpecError("retry.maxBackoffSeconds must be >= initialBackoffSeconds")
    return policy
