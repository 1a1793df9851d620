"""The name PostgreSQL gives an index created without one (``CREATE INDEX ON t (a)``).

The rules of PostgreSQL's own C code, step by step, so that the manifest names the index the
migration would have made:

    ChooseIndexColumnNames   one name per key and INCLUDE column: the column's name, or for an
                             expression FigureIndexColname's guess (``lower(x)`` -> ``lower``),
                             else ``expr``; a repeated name gets ``1``, ``2``, ... appended
    ChooseIndexNameAddition  those names joined by ``_`` (it stops once 64 bytes are reached)
    makeObjectName           ``<table>_<addition>_<label>`` cut to 63 bytes, shortening the longer
                             of table and addition first, at character boundaries
    ChooseRelationName       label ``idx``, then ``idx1``, ``idx2``, ... while the name is taken by
                             a relation of the same schema

(``CREATE UNIQUE INDEX`` uses ``idx`` too; ``key``, ``pkey`` and ``excl`` are the labels of the
indexes behind UNIQUE, PRIMARY KEY and EXCLUDE constraints.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Final

from pglast import ast, enums

NAMEDATALEN: Final = 64
MAX_BYTES: Final = NAMEDATALEN - 1

_SQL_VALUE_FUNCTIONS: Final = {
    "SVFOP_CURRENT_DATE": "current_date",
    "SVFOP_CURRENT_TIME": "current_time",
    "SVFOP_CURRENT_TIME_N": "current_time",
    "SVFOP_CURRENT_TIMESTAMP": "current_timestamp",
    "SVFOP_CURRENT_TIMESTAMP_N": "current_timestamp",
    "SVFOP_LOCALTIME": "localtime",
    "SVFOP_LOCALTIME_N": "localtime",
    "SVFOP_LOCALTIMESTAMP": "localtimestamp",
    "SVFOP_LOCALTIMESTAMP_N": "localtimestamp",
    "SVFOP_CURRENT_ROLE": "current_role",
    "SVFOP_CURRENT_USER": "current_user",
    "SVFOP_USER": "user",
    "SVFOP_SESSION_USER": "session_user",
    "SVFOP_CURRENT_CATALOG": "current_catalog",
    "SVFOP_CURRENT_SCHEMA": "current_schema",
}
_XML_FUNCTIONS: Final = {
    "IS_XMLCONCAT": "xmlconcat",
    "IS_XMLELEMENT": "xmlelement",
    "IS_XMLFOREST": "xmlforest",
    "IS_XMLPARSE": "xmlparse",
    "IS_XMLPI": "xmlpi",
    "IS_XMLROOT": "xmlroot",
    "IS_XMLSERIALIZE": "xmlserialize",
}
_JSON_FUNCTIONS: Final = {
    "JSON_EXISTS_OP": "json_exists",
    "JSON_QUERY_OP": "json_query",
    "JSON_VALUE_OP": "json_value",
}
# Nodes PostgreSQL names like a function call of this name (FigureColnameInternal).
_FIXED: Final = {
    "GroupingFunc": "grouping",
    "A_ArrayExpr": "array",
    "RowExpr": "row",
    "CoalesceExpr": "coalesce",
    "XmlSerialize": "xmlserialize",
    "JsonParseExpr": "json",
    "JsonScalarExpr": "json_scalar",
    "JsonSerializeExpr": "json_serialize",
    "JsonObjectConstructor": "json_object",
    "JsonArrayConstructor": "json_array",
    "JsonArrayQueryConstructor": "json_array",
    "JsonObjectAgg": "json_objectagg",
    "JsonArrayAgg": "json_arrayagg",
}


def index_name(table: str, elements: Sequence[ast.IndexElem], taken: Callable[[str], bool]) -> str:
    """The name PostgreSQL chooses for an unnamed index on ``table`` whose key and INCLUDE
    elements are ``elements``; ``taken(name)`` says whether a relation of the table's schema
    already has that name."""
    return choose_relation_name(table, name_addition(column_names(elements)), "idx", taken)


def column_names(elements: Iterable[ast.IndexElem]) -> list[str]:
    """ChooseIndexColumnNames: a distinct name per element."""
    result: list[str] = []
    for element in elements:
        if element.name is not None:
            original = element.name
        else:
            original = figure_colname(element.expr) or "expr"
        name, i = original, 0
        while name in result:
            i += 1
            suffix = str(i)
            name = clip(original, NAMEDATALEN - 1 - len(suffix)) + suffix
        result.append(name)
    return result


def name_addition(names: Iterable[str]) -> str:
    """ChooseIndexNameAddition: the names joined by ``_``, stopping once 64 bytes are reached."""
    joined = ""
    for name in names:
        joined = f"{joined}_{name}" if joined else name
        if len(joined.encode()) >= NAMEDATALEN:
            break
    return joined


def make_object_name(name1: str, name2: str | None, label: str) -> str:
    """makeObjectName: ``name1_name2_label`` in at most 63 bytes; the longer of the two names is
    shortened first, then each is cut back to a character boundary."""
    raw1, raw2 = name1.encode(), (name2 or "").encode()
    overhead = (1 if name2 is not None else 0) + len(label.encode()) + 1
    available = MAX_BYTES - overhead
    chars1, chars2 = len(raw1), len(raw2)
    while chars1 + chars2 > available:
        if chars1 > chars2:
            chars1 -= 1
        else:
            chars2 -= 1
    parts = [clip(name1, chars1)]
    if name2 is not None:
        parts.append(clip(name2, chars2))
    return "_".join([*parts, label])


def choose_relation_name(
    name1: str, name2: str | None, label: str, taken: Callable[[str], bool]
) -> str:
    """ChooseRelationName: the first of label, label1, label2, ... whose name is free."""
    name, n = make_object_name(name1, name2, label), 0
    while taken(name):
        n += 1
        name = make_object_name(name1, name2, f"{label}{n}")
    return name


def clip(name: str, max_bytes: int) -> str:
    """pg_mbcliplen: the longest prefix of ``name`` of at most ``max_bytes`` UTF-8 bytes that ends
    at a character boundary."""
    return name.encode()[:max_bytes].decode("utf-8", errors="ignore")


def figure_colname(node: ast.Node | None) -> str | None:
    """FigureIndexColname: PostgreSQL's guess at a name for an index expression, or None."""
    return _figure(node)[0]


def _figure(node: ast.Node | None) -> tuple[str | None, int]:
    """FigureColnameInternal: a name and the strength of the guess (0 none, 1 weak, 2 good)."""
    if node is None:
        return None, 0
    kind = type(node).__name__
    if kind in _FIXED:
        return _FIXED[kind], 2
    if isinstance(node, ast.ColumnRef):
        return _last_string(node.fields or ())
    if isinstance(node, ast.A_Indirection):
        found = _last_string(node.indirection or ())
        return found if found[0] is not None else _figure(node.arg)
    if isinstance(node, ast.FuncCall):
        return _last_string(node.funcname or ())[0], 2
    if isinstance(node, ast.A_Expr):
        return ("nullif", 2) if node.kind == enums.A_Expr_Kind.AEXPR_NULLIF else (None, 0)
    if isinstance(node, ast.TypeCast):
        name, strength = _figure(node.arg)
        if strength <= 1 and node.typeName is not None:
            return _last_string(node.typeName.names or ())[0], 1
        return name, strength
    if isinstance(node, ast.CollateClause):
        return _figure(node.arg)
    if isinstance(node, ast.SubLink):
        link = _enum_name(node.subLinkType)
        return {"EXISTS_SUBLINK": ("exists", 2), "ARRAY_SUBLINK": ("array", 2)}.get(link, (None, 0))
    if isinstance(node, ast.CaseExpr):
        name, strength = _figure(node.defresult)
        return ("case", 1) if strength <= 1 else (name, strength)
    return _by_operation(node)


def _by_operation(node: ast.Node) -> tuple[str | None, int]:
    """The nodes PostgreSQL names by their ``op``: GREATEST/LEAST, SQL value functions, SQL/XML
    and SQL/JSON functions."""
    op = _enum_name(getattr(node, "op", None))
    if isinstance(node, ast.MinMaxExpr):
        name = {"IS_GREATEST": "greatest", "IS_LEAST": "least"}.get(op)
    elif isinstance(node, ast.SQLValueFunction):
        name = _SQL_VALUE_FUNCTIONS.get(op)
    elif isinstance(node, ast.XmlExpr):
        name = _XML_FUNCTIONS.get(op)
    elif type(node).__name__ == "JsonFuncExpr":
        name = _JSON_FUNCTIONS.get(op)
    else:
        name = None
    return (name, 2) if name is not None else (None, 0)


def _last_string(items: Iterable[ast.Node]) -> tuple[str | None, int]:
    """The last String among ``items`` (ignoring ``*`` and subscripts), as a good guess."""
    name = None
    for item in items:
        if isinstance(item, ast.String):
            name = item.sval
    return (name, 2) if name is not None else (None, 0)


def _enum_name(value: object) -> str:
    return getattr(value, "name", str(value))
