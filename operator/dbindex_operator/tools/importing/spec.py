"""One CREATE INDEX (a pglast ``IndexStmt``) -> the ``spec`` of its DatabaseIndex, or
``Inexpressible`` saying why no manifest can express it faithfully (ON ONLY, opclass parameters,
an identifier PostgreSQL would truncate, ...): a manifest that builds a different
index than the migration would be worse than none.

Fields are written in the order the CRD documents them. Every spec is finally run through the
operator's own validation (``core.spec.parse``), so nothing is printed that the operator would
refuse.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from pglast import ast, enums, parser

from dbindex_operator.core import errors
from dbindex_operator.core import spec as index_spec
from dbindex_operator.tools.importing import text
from dbindex_operator.tools.importing.model import DEFAULT_DELETION_POLICY, Inexpressible, Options
from dbindex_operator.tools.importing.parse import SourceFile, Statement

_MAX_IDENTIFIER_BYTES: Final = 63  # NAMEDATALEN - 1: PostgreSQL truncates longer names

_ORDER: Final = {enums.SortByDir.SORTBY_ASC: "Asc", enums.SortByDir.SORTBY_DESC: "Desc"}
_NULLS: Final = {
    enums.SortByNulls.SORTBY_NULLS_FIRST: "First",
    enums.SortByNulls.SORTBY_NULLS_LAST: "Last",
}


def build(
    file: SourceFile,
    statement: Statement,
    node: ast.IndexStmt,
    tokens: list[parser.Token],
    options: Options,
    *,
    schema: str | None,
    name: str,
    only: bool = False,
) -> dict[str, Any]:
    """The spec for ``node``, whose code tokens (no comments, no ';') are ``tokens``, on the table
    in ``schema`` (None: the default, left out) under the index name ``name`` (the statement's,
    or the one PostgreSQL would choose); raises Inexpressible. ``only`` accepts ON ONLY (the
    caller checks that the file attaches every partition's index: ``partitions``)."""
    _check_identifiers(file, tokens)
    spec = _spec(file, statement, node, tokens, options, schema, name, only)
    _check_operator_accepts(spec)
    return spec


def _check_identifiers(file: SourceFile, tokens: list[parser.Token]) -> None:
    """PostgreSQL silently truncates identifiers to 63 bytes (and so does pglast's tree), which
    would make the manifest name an index the migration never meant: refuse instead."""
    for token in tokens:
        if token.name != "IDENT":
            continue  # U&"..." identifiers (UIDENT) are not decoded here
        raw = file.text(token, token)
        name = raw[1:-1].replace('""', '"') if raw.startswith('"') else raw.lower()
        if len(name.encode("utf-8")) > _MAX_IDENTIFIER_BYTES:
            raise Inexpressible(
                f"identifier {raw} is longer than {_MAX_IDENTIFIER_BYTES} bytes"
                " (PostgreSQL would truncate it)"
            )


def _check_operator_accepts(spec: dict[str, Any]) -> None:
    """Run the operator's own spec validation, so that we never print a manifest the operator
    would refuse (a method it does not support, UNIQUE on gin, ...): better an error here, at the
    line of the migration, than a failed object later."""
    try:
        index_spec.parse(spec, object_name="import")
    except errors.SpecError as exc:
        raise Inexpressible(f"the operator would reject this index: {exc.message}") from None


def _spec(
    file: SourceFile,
    statement: Statement,
    node: ast.IndexStmt,
    tokens: list[parser.Token],
    options: Options,
    schema: str | None,
    name: str,
    only: bool,
) -> dict[str, Any]:
    relation = node.relation
    assert relation is not None and relation.relname is not None
    if not relation.inh and not only:
        raise Inexpressible(
            "cannot express ON ONLY: a DatabaseIndex builds the index on the whole table"
        )
    if relation.catalogname:
        raise Inexpressible(
            f"cannot express the database-qualified table {relation.catalogname}."
            f"{relation.schemaname}.{relation.relname}: the Secret chooses the database"
        )

    secret_ref = {"name": options.secret}
    if options.key is not None:
        secret_ref["key"] = options.key
    spec: dict[str, Any] = {"connection": {"secretRef": secret_ref}}
    if schema is not None:
        spec["schema"] = schema
    spec["table"] = relation.relname
    spec["name"] = name
    if node.accessMethod and node.accessMethod != "btree":
        spec["method"] = node.accessMethod
    if node.unique:
        spec["unique"] = True
    spec["columns"] = _columns(file, statement, node, tokens)
    if node.indexIncludingParams:
        spec["include"] = [_include(elem) for elem in node.indexIncludingParams]
    if node.whereClause is not None:
        span = text.where_span(tokens)
        spec["where"] = text.expression_text(file, node.whereClause, span, "WHERE predicate")
    if node.nulls_not_distinct:
        spec["nullsNotDistinct"] = True
    if node.tableSpace:
        spec["tablespace"] = node.tableSpace
    if node.options:
        spec["storageParameters"] = dict(_storage_parameter(d) for d in node.options)
    if options.deletion_policy != DEFAULT_DELETION_POLICY:
        spec["deletionPolicy"] = options.deletion_policy
    return spec


def _columns(
    file: SourceFile, statement: Statement, node: ast.IndexStmt, tokens: list[parser.Token]
) -> list[dict[str, Any]]:
    elems = node.indexParams or ()
    assert node.relation is not None and node.relation.location is not None
    spans = text.element_spans(tokens, statement.base + node.relation.location)
    if spans is not None and len(spans) != len(elems):
        spans = None  # token layout not understood: the deparser writes every expression
    columns = []
    for i, elem in enumerate(elems):
        span = text.expression_span(tokens, *spans[i]) if spans is not None else None
        columns.append(_column(file, elem, span))
    return columns


def _column(file: SourceFile, elem: ast.IndexElem, span: text.Span | None) -> dict[str, Any]:
    if elem.name is not None:
        column: dict[str, Any] = {"column": elem.name}
    else:
        assert elem.expr is not None
        column = {"expression": text.expression_text(file, elem.expr, span, "expression")}
    if elem.ordering in _ORDER:
        column["order"] = _ORDER[elem.ordering]
    if elem.nulls_ordering in _NULLS:
        column["nulls"] = _NULLS[elem.nulls_ordering]
    if elem.opclassopts:
        raise Inexpressible(f"cannot express operator class parameters ({_describe(elem)})")
    if elem.opclass:
        column["opclass"] = _qualified_name(elem.opclass, "operator class")
    if elem.collation:
        column["collation"] = _collation_name(elem.collation)
    return column


def _include(elem: ast.IndexElem) -> str:
    # PostgreSQL itself rejects anything but a plain column in INCLUDE; say so before a build does.
    plain = elem.expr is None and not elem.opclass and not elem.collation
    unordered = elem.ordering not in _ORDER and elem.nulls_ordering not in _NULLS
    if elem.name is None or not plain or not unordered:
        raise Inexpressible("INCLUDE accepts only plain column names")
    return elem.name


def _describe(elem: ast.IndexElem) -> str:
    return f"column {elem.name}" if elem.name else "an expression key"


def _qualified_name(parts: Sequence[ast.String], what: str) -> str:
    """``schema.name`` as the CRD documents it. A name that itself contains '.' (libc collations
    like en_US.utf8) would read as schema-qualified there, so it cannot be written unambiguously."""
    names = [p.sval or "" for p in parts]
    if any("." in n for n in names):
        shown = ".".join(f'"{n}"' for n in names)
        raise Inexpressible(
            f"cannot express the {what} {shown} unambiguously: the name contains '.', which the"
            f" manifest reads as a schema qualification"
        )
    return ".".join(names)


def _collation_name(parts: Sequence[ast.String]) -> str:
    """A collation is one name in the manifest (its own name may hold a dot: en_US.utf8). A
    pg_catalog qualification can be dropped, since pg_catalog is always searched first; any
    other schema cannot be expressed."""
    names = [p.sval or "" for p in parts]
    if len(names) == 2 and names[0] == "pg_catalog":
        names = names[1:]
    if len(names) != 1:
        shown = ".".join(f'"{n}"' for n in names)
        raise Inexpressible(
            f"cannot express the collation {shown}: collations are named without a schema"
            " (only pg_catalog, which is always searched first, can be dropped)"
        )
    return names[0]


def _storage_parameter(option: ast.DefElem) -> tuple[str, str]:
    name = option.defname or ""
    if option.defnamespace:
        raise Inexpressible(
            f"storage parameter {option.defnamespace}.{name}: indexes take no parameter namespace"
        )
    return name, _parameter_value(name, option.arg)


def _parameter_value(name: str, arg: object) -> str:
    """The value as PostgreSQL's reloptions keep it: text, bare words and numbers as written."""
    if arg is None:  # WITH (fastupdate) means true
        return "true"
    if isinstance(arg, ast.Integer):
        return str(arg.ival)
    if isinstance(arg, ast.Float):
        return str(arg.fval)
    if isinstance(arg, ast.String):
        return str(arg.sval)
    if isinstance(arg, ast.Boolean):
        return "true" if arg.boolval else "false"
    if isinstance(arg, ast.TypeName) and _plain_type_name(arg):
        return ".".join(n.sval or "" for n in arg.names or ())
    raise Inexpressible(f"cannot express the value of storage parameter {name}")


def _plain_type_name(name: ast.TypeName) -> bool:
    return not (name.typmods or name.arrayBounds or name.setof or name.pct_type)
