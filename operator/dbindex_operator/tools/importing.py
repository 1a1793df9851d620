"""Turn migration SQL into DatabaseIndex manifests (``dbindex-operator import``).

Each file is parsed with PostgreSQL's own parser (pglast); every CREATE INDEX statement becomes
one DatabaseIndex manifest, printed as a YAML stream on standard output. Other statements are
skipped with a note on standard error. A CREATE INDEX that a manifest cannot express faithfully
(ON ONLY, opclass parameters, no index name, ...) is an error and prints nothing: a manifest that
builds a different index than the migration would be worse than none.

Index expressions and WHERE predicates keep the user's own text, cut out of the statement at
token boundaries, minus its SQL comments (the operator refuses comments in fragments); where that
text does not re-parse to the same syntax tree, pglast's deparser writes it instead. Either way
the text is checked to parse back to the original tree (``SELECT <text>``). Every spec is finally
run through the operator's own validation (spec.parse), so nothing is printed that the operator
would refuse.

Positions: pglast 8 reports node locations, statement offsets, scanner tokens and syntax error
positions as indexes into the Python ``str`` (it converts libpg_query's UTF-8 byte offsets), so
they slice the text directly.

Diagnostics go to standard error as ``FILE:LINE: message`` (notes) and
``FILE:LINE: error: message`` (errors); LINE is the line of the statement's first token.

Exit codes (also in HELP_EPILOG):
    0  every CREATE INDEX statement was converted (notes allowed; also when there were none)
    1  at least one statement could not be converted, or a file has a syntax error;
       the statements that could be converted are still printed
    2  usage error (bad option value, no input) or a file could not be read; nothing is printed
"""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import re
from collections.abc import Sequence
from typing import Any, Final, TextIO

import yaml
from pglast import ast, enums, parser
from pglast.stream import RawStream

from dbindex_operator.core import errors, settings
from dbindex_operator.core import spec as index_spec

EXIT_OK: Final = 0
EXIT_NOT_CONVERTED: Final = 1
EXIT_USAGE: Final = 2

DELETION_POLICIES: Final = ("Retain", "Delete")
DEFAULT_DELETION_POLICY: Final = "Retain"
DESCRIPTION_ANNOTATION: Final = f"{settings.GROUP}/description"
STDIN_PATH: Final = "-"
STDIN_NAME: Final = "<stdin>"

HELP_EPILOG: Final = """\
Reads SQL migration files (- for standard input) and prints one DatabaseIndex manifest per
CREATE INDEX statement as a YAML stream. Other statements are skipped with a note on standard
error. SQL comments directly above a statement become the dbindex.dev/description annotation.

A CREATE INDEX that a manifest cannot express is reported as FILE:LINE: error: ... and not
printed: an index without a name, ON ONLY, operator class parameters, a database-qualified table,
an identifier longer than 63 bytes, anything the operator itself would refuse (such as an access
method it does not support).

exit codes:
  0  every CREATE INDEX statement was converted (notes allowed; also when there were none)
  1  at least one statement could not be converted, or a file has a syntax error
     (the statements that could be converted are still printed)
  2  usage error or unreadable file (nothing is printed)
"""

_MAX_IDENTIFIER_BYTES: Final = 63  # NAMEDATALEN - 1: PostgreSQL truncates longer names
_MAX_NAME_LENGTH: Final = 63  # metadata.name is kept to a DNS-1123 label
_DNS_LABEL: Final = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS_SUBDOMAIN: Final = re.compile(rf"{_DNS_LABEL.pattern}(\.{_DNS_LABEL.pattern})*")
_SECRET_KEY: Final = re.compile(r"[-._a-zA-Z0-9]+")
_NOT_IN_LABEL: Final = re.compile(r"[^a-z0-9-]")

_COMMENTS: Final = frozenset({"SQL_COMMENT", "C_COMMENT"})
_OPEN, _CLOSE, _COMMA, _SEMICOLON = "ASCII_40", "ASCII_41", "ASCII_44", "ASCII_59"

_ORDER: Final = {enums.SortByDir.SORTBY_ASC: "Asc", enums.SortByDir.SORTBY_DESC: "Desc"}
_NULLS: Final = {
    enums.SortByNulls.SORTBY_NULLS_FIRST: "First",
    enums.SortByNulls.SORTBY_NULLS_LAST: "Last",
}


# --- results -------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Diagnostic:
    """One line for standard error; ``line`` is None for file-level messages."""

    filename: str
    line: int | None
    message: str
    error: bool = False

    def __str__(self) -> str:
        where = self.filename if self.line is None else f"{self.filename}:{self.line}"
        return f"{where}: error: {self.message}" if self.error else f"{where}: {self.message}"


@dataclasses.dataclass
class ImportResult:
    """What one file turned into; diagnostics keep the order of the statements."""

    manifests: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    diagnostics: list[Diagnostic] = dataclasses.field(default_factory=list)

    @property
    def notes(self) -> list[str]:
        return [str(d) for d in self.diagnostics if not d.error]

    @property
    def errors(self) -> list[str]:
        return [str(d) for d in self.diagnostics if d.error]


@dataclasses.dataclass(frozen=True)
class Options:
    """The command-line choices that go into every manifest."""

    namespace: str | None
    secret: str
    key: str | None
    deletion_policy: str


class Inexpressible(Exception):
    """A CREATE INDEX that no DatabaseIndex manifest can express; the message says why."""


# --- entry points --------------------------------------------------------------------------------


def run(
    paths: Sequence[str],
    *,
    namespace: str | None,
    secret: str,
    key: str | None,
    deletion_policy: str,
    stdin: TextIO,
    stdout: TextIO,
    stderr: TextIO,
) -> int:
    """Convert every file in ``paths`` and print the manifests; return the exit code."""
    options = Options(namespace, secret, key, deletion_policy)
    problems = option_problems(options)
    if not paths:
        problems.append(f"no input files given (use {STDIN_PATH} for standard input)")
    for problem in problems:
        print(f"error: {problem}", file=stderr)
    sources = None if problems else _read_all(paths, stdin, stderr)
    if sources is None:
        return EXIT_USAGE

    taken: set[str] = set()
    manifests: list[dict[str, Any]] = []
    failed = False
    for filename, sql in sources:
        result = _convert(sql, filename, options, taken)
        for diagnostic in result.diagnostics:
            print(diagnostic, file=stderr)
        manifests.extend(result.manifests)
        failed = failed or bool(result.errors)
    if manifests:
        dump(manifests, stdout)
    return EXIT_NOT_CONVERTED if failed else EXIT_OK


def convert(
    sql: str,
    filename: str,
    *,
    namespace: str | None,
    secret: str,
    key: str | None,
    deletion_policy: str,
    taken: set[str] | None = None,
) -> ImportResult:
    """Convert one file's text. ``taken`` holds metadata names already used in the output (it is
    updated), so that names stay unique across files; raises ValueError on bad options."""
    options = Options(namespace, secret, key, deletion_policy)
    problems = option_problems(options)
    if problems:
        raise ValueError("; ".join(problems))
    return _convert(sql, filename, options, set() if taken is None else taken)


def option_problems(options: Options) -> list[str]:
    """Why these options would produce manifests the API server rejects (empty if none)."""
    problems = []
    if options.namespace is not None and not _DNS_LABEL.fullmatch(options.namespace):
        problems.append(f"namespace {options.namespace!r} is not a valid DNS-1123 label")
    if len(options.secret) > 253 or not _DNS_SUBDOMAIN.fullmatch(options.secret):
        problems.append(f"secret {options.secret!r} is not a valid Secret name")
    if options.key is not None and not _SECRET_KEY.fullmatch(options.key):
        problems.append(f"key {options.key!r} is not a valid Secret key")
    if options.deletion_policy not in DELETION_POLICIES:
        choices = ", ".join(DELETION_POLICIES)
        problems.append(f"deletion policy {options.deletion_policy!r} is not one of {choices}")
    return problems


def dump(manifests: Sequence[dict[str, Any]], stream: TextIO) -> None:
    """Write ``manifests`` as a ``---``-separated YAML stream."""
    yaml.dump_all(
        manifests,
        stream,
        Dumper=_Dumper,
        sort_keys=False,
        explicit_start=True,
        allow_unicode=True,
        width=1_000_000,  # never fold long predicates across lines
    )


class _Dumper(yaml.SafeDumper):
    """SafeDumper that writes multi-line strings (descriptions, predicates) as ``|`` blocks."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def _read_all(paths: Sequence[str], stdin: TextIO, stderr: TextIO) -> list[tuple[str, str]] | None:
    """Read every input before converting any, so an unreadable file prints nothing at all."""
    sources: list[tuple[str, str]] = []
    ok = True
    if list(paths).count(STDIN_PATH) > 1:
        print(f"error: {STDIN_PATH} (standard input) given more than once", file=stderr)
        return None
    for path in paths:
        try:
            if path == STDIN_PATH:
                sources.append((STDIN_NAME, stdin.read()))
            else:
                with open(path, encoding="utf-8") as f:
                    sources.append((path, f.read()))
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            print(f"{path}: error: cannot read: {reason}", file=stderr)
            ok = False
    return sources if ok else None


# --- splitting a file into statements ------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Statement:
    """A parsed statement; ``base`` turns its node locations into offsets in the file."""

    node: ast.Node
    start: int
    end: int
    base: int


class _File:
    """A file's text, its tokens (comments included) and the offset -> line mapping."""

    def __init__(self, sql: str, filename: str, tokens: list[parser.Token]) -> None:
        self.sql = sql
        self.filename = filename
        self.tokens = tokens
        self._starts = [t.start for t in tokens]
        self._lines = [0] + [i + 1 for i, c in enumerate(sql) if c == "\n"]

    def line(self, offset: int) -> int:
        return bisect.bisect_right(self._lines, offset)

    def token_index(self, offset: int) -> int:
        """Index of the first token that starts at or after ``offset``."""
        return bisect.bisect_left(self._starts, offset)

    def text(self, first: parser.Token, last: parser.Token) -> str:
        return self.sql[first.start : last.end + 1]  # token ends are inclusive


def _convert(sql: str, filename: str, options: Options, taken: set[str]) -> ImportResult:
    result = ImportResult()
    try:
        tokens = parser.scan(sql)
    except parser.ParseError as exc:  # a lexer error (e.g. an unterminated string) stops it all
        file = _File(sql, filename, [])
        result.diagnostics.append(_syntax_error(file, exc, len(sql)))
        return result
    file = _File(sql, filename, tokens)
    statements, syntax_errors = _statements(file)
    result.diagnostics.extend(syntax_errors)
    indexes = 0
    for statement in statements:
        indexes += _convert_statement(file, statement, options, taken, result)
    result.diagnostics.sort(key=lambda d: d.line or 0)  # syntax errors among the statements
    if indexes == 0 and not syntax_errors:
        result.diagnostics.append(Diagnostic(filename, None, "no CREATE INDEX statements found"))
    return result


def _statements(file: _File) -> tuple[list[_Statement], list[Diagnostic]]:
    """Parse the whole file; if it has a syntax error, parse it again one statement at a time so
    that one typo does not hide every other index in the file."""
    try:
        return [_statement(raw, file.sql, 0) for raw in parser.parse_sql(file.sql)], []
    except parser.ParseError as whole:
        statements, syntax_errors = _statements_one_by_one(file)
        return statements, syntax_errors or [_syntax_error(file, whole, len(file.sql))]


def _statements_one_by_one(file: _File) -> tuple[list[_Statement], list[Diagnostic]]:
    # Cutting at every ';' token is wrong only inside BEGIN ATOMIC bodies; we only get here for a
    # file that PostgreSQL would reject anyway.
    cuts = [t.start for t in file.tokens if t.name == _SEMICOLON] + [len(file.sql)]
    statements: list[_Statement] = []
    syntax_errors: list[Diagnostic] = []
    lo = 0
    for hi in cuts:
        chunk = file.sql[lo:hi]
        try:
            statements.extend(_statement(raw, chunk, lo) for raw in parser.parse_sql(chunk))
        except parser.ParseError as exc:
            syntax_errors.append(_syntax_error(file, exc, lo + len(chunk), base=lo))
        lo = hi + 1
    return statements, syntax_errors


def _statement(raw: ast.RawStmt, source: str, base: int) -> _Statement:
    start = base + (raw.stmt_location or 0)
    length = raw.stmt_len or (len(source) - (raw.stmt_location or 0))  # 0 means "to the end"
    assert raw.stmt is not None
    return _Statement(raw.stmt, start, start + length, base)


def _syntax_error(file: _File, exc: parser.ParseError, end: int, base: int = 0) -> Diagnostic:
    position = exc.args[1] if len(exc.args) > 1 else None
    # No position means "at end of input": point at the last non-blank character.
    offset = max(len(file.sql[:end].rstrip()) - 1, 0) if position is None else base + position
    return Diagnostic(file.filename, file.line(offset), f"syntax error: {exc.args[0]}", error=True)


# --- one statement -------------------------------------------------------------------------------


def _convert_statement(
    file: _File, statement: _Statement, options: Options, taken: set[str], result: ImportResult
) -> int:
    """Append the statement's manifest or diagnostic; return how many CREATE INDEX it held."""
    first = file.token_index(statement.start)
    while first < len(file.tokens) and file.tokens[first].name in _COMMENTS:
        first += 1
    line = file.line(file.tokens[first].start if first < len(file.tokens) else statement.start)
    node = statement.node
    if isinstance(node, ast.CreateSchemaStmt) and any(
        isinstance(e, ast.IndexStmt) for e in node.schemaElts or ()
    ):
        why = "cannot express CREATE INDEX inside CREATE SCHEMA: make it a statement of its own"
        result.diagnostics.append(Diagnostic(file.filename, line, why, error=True))
        return 1
    if not isinstance(node, ast.IndexStmt):
        note = f"skipped {_statement_tag(node)} statement"
        result.diagnostics.append(Diagnostic(file.filename, line, note))
        return 0
    try:
        tokens = _code_tokens(file, first, statement.end)
        manifest = _manifest(file, statement, node, tokens, options)
    except Inexpressible as exc:
        result.diagnostics.append(Diagnostic(file.filename, line, str(exc), error=True))
        return 1
    manifest["metadata"]["name"] = _unique_name(_base_name(node.idxname or ""), taken)
    description = _description(file, first)
    if description:
        manifest["metadata"]["annotations"] = {DESCRIPTION_ANNOTATION: description}
    result.manifests.append(manifest)
    return 1


def _code_tokens(file: _File, first: int, end: int) -> list[parser.Token]:
    """The statement's tokens without comments and without a trailing ';'."""
    last = file.token_index(end)
    return [t for t in file.tokens[first:last] if t.name not in _COMMENTS and t.name != _SEMICOLON]


def _manifest(
    file: _File,
    statement: _Statement,
    node: ast.IndexStmt,
    tokens: list[parser.Token],
    options: Options,
) -> dict[str, Any]:
    _check_identifiers(file, tokens)
    spec = _spec(file, statement, node, tokens, options)
    _check_operator_accepts(spec)
    metadata: dict[str, Any] = {"name": ""}  # filled in once the statement is known to convert
    if options.namespace is not None:
        metadata["namespace"] = options.namespace
    return {
        "apiVersion": f"{settings.GROUP}/{settings.VERSION}",
        "kind": settings.KIND,
        "metadata": metadata,
        "spec": spec,
    }


def _check_operator_accepts(spec: dict[str, Any]) -> None:
    """Run the operator's own spec validation, so that we never print a manifest the operator
    would refuse (a method it does not support, UNIQUE on gin, ...): better an error here, at the
    line of the migration, than a failed object later."""
    try:
        index_spec.parse(spec, object_name="import")
    except errors.SpecError as exc:
        raise Inexpressible(f"the operator would reject this index: {exc.message}") from None


def _spec(
    file: _File,
    statement: _Statement,
    node: ast.IndexStmt,
    tokens: list[parser.Token],
    options: Options,
) -> dict[str, Any]:
    relation = node.relation
    assert relation is not None and relation.relname is not None
    if not relation.inh:
        raise Inexpressible(
            "cannot express ON ONLY: a DatabaseIndex builds the index on the whole table"
        )
    if relation.catalogname:
        raise Inexpressible(
            f"cannot express the database-qualified table {relation.catalogname}."
            f"{relation.schemaname}.{relation.relname}: the Secret chooses the database"
        )
    if not node.idxname:
        raise Inexpressible("the index has no name: a DatabaseIndex needs an explicit name")

    secret_ref = {"name": options.secret}
    if options.key is not None:
        secret_ref["key"] = options.key
    spec: dict[str, Any] = {"connection": {"secretRef": secret_ref}}
    if relation.schemaname:
        spec["schema"] = relation.schemaname
    spec["table"] = relation.relname
    spec["name"] = node.idxname
    if node.accessMethod and node.accessMethod != "btree":
        spec["method"] = node.accessMethod
    if node.unique:
        spec["unique"] = True
    spec["columns"] = _columns(file, statement, node, tokens)
    if node.indexIncludingParams:
        spec["include"] = [_include(elem) for elem in node.indexIncludingParams]
    if node.whereClause is not None:
        spec["where"] = _where(file, node.whereClause, tokens)
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
    file: _File, statement: _Statement, node: ast.IndexStmt, tokens: list[parser.Token]
) -> list[dict[str, Any]]:
    elems = node.indexParams or ()
    assert node.relation is not None and node.relation.location is not None
    spans = _element_spans(tokens, statement.base + node.relation.location)
    if spans is not None and len(spans) != len(elems):
        spans = None  # token layout not understood: the deparser writes every expression
    columns = []
    for i, elem in enumerate(elems):
        span = _expression_span(tokens, *spans[i]) if spans is not None else None
        columns.append(_column(file, elem, span))
    return columns


def _column(file: _File, elem: ast.IndexElem, span: tuple[int, int] | None) -> dict[str, Any]:
    if elem.name is not None:
        column: dict[str, Any] = {"column": elem.name}
    else:
        assert elem.expr is not None
        column = {"expression": _expression_text(file, elem.expr, span, "expression")}
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


# --- expression and predicate text ---------------------------------------------------------------


def _element_spans(tokens: list[parser.Token], relation_at: int) -> list[tuple[int, int]] | None:
    """Token index ranges [lo, hi) of each index key: split the first parenthesised list after the
    table name at its top-level commas."""
    opening = next(
        (i for i, t in enumerate(tokens) if t.start > relation_at and t.name == _OPEN), None
    )
    if opening is None:
        return None
    spans: list[tuple[int, int]] = []
    depth, lo = 0, opening + 1
    for i in range(opening, len(tokens)):
        name = tokens[i].name
        depth += (name == _OPEN) - (name == _CLOSE)
        if depth == 0:
            return [*spans, (lo, i)]
        if depth == 1 and name == _COMMA:
            spans.append((lo, i))
            lo = i + 1
    return None


def _expression_span(tokens: list[parser.Token], lo: int, hi: int) -> tuple[int, int] | None:
    """Character range of an expression key: the inside of ``( expr )``, or a function call up to
    the parenthesis closing its arguments (what follows is COLLATE, opclass, ASC/DESC, NULLS)."""
    if lo >= hi:
        return None
    if tokens[lo].name == _OPEN:
        close = _matching(tokens, lo)
        if close is None or close - lo < 2:
            return None
        return tokens[lo + 1].start, tokens[close - 1].end
    opening = next((i for i in range(lo, hi) if tokens[i].name == _OPEN), None)
    if opening is None:  # CURRENT_DATE and friends: a single keyword
        return tokens[lo].start, tokens[lo].end
    close = _matching(tokens, opening)
    return None if close is None else (tokens[lo].start, tokens[close].end)


def _matching(tokens: list[parser.Token], opening: int) -> int | None:
    depth = 0
    for i in range(opening, len(tokens)):
        depth += (tokens[i].name == _OPEN) - (tokens[i].name == _CLOSE)
        if depth == 0:
            return i
    return None


def _where(file: _File, clause: ast.Node, tokens: list[parser.Token]) -> str:
    """WHERE is the last clause of CREATE INDEX: its text runs from the top-level WHERE keyword to
    the end of the statement."""
    depth, keyword = 0, None
    for i, token in enumerate(tokens):
        depth += (token.name == _OPEN) - (token.name == _CLOSE)
        if depth == 0 and token.name == "WHERE":
            keyword = i
            break
    span = None
    if keyword is not None and keyword + 1 < len(tokens):
        span = (tokens[keyword + 1].start, tokens[-1].end)
    return _expression_text(file, clause, span, "WHERE predicate")


def _expression_text(file: _File, node: ast.Node, span: tuple[int, int] | None, what: str) -> str:
    """The user's text when it parses back to ``node``, else the deparser's; never neither."""
    candidates = []
    if span is not None:
        candidates.append(_without_comments(file, *span))
    with contextlib.suppress(Exception):  # a deparser failure leaves the user's text to try
        candidates.append(RawStream()(node))
    for text in candidates:
        if reparses_to(text, node):
            return text
    raise Inexpressible(f"cannot reproduce the text of the {what}")


def _without_comments(file: _File, start: int, end: int) -> str:
    """The text from ``start`` to ``end`` (inclusive) minus its comments: the operator refuses
    comments in fragments. A comment's gap becomes a space, or keeps the line break and the
    indentation of the next line, so the user's layout survives."""
    pieces: list[str] = []
    previous: parser.Token | None = None
    commented = False
    for token in file.tokens[file.token_index(start) :]:
        if token.start > end:
            break
        if token.name in _COMMENTS:
            commented = True
            continue
        if previous is not None:
            gap = file.sql[previous.end + 1 : token.start]
            pieces.append(_layout(file, gap, token) if commented else gap)
        pieces.append(file.text(token, token))
        previous, commented = token, False
    return "".join(pieces)


def _layout(file: _File, gap: str, token: parser.Token) -> str:
    line_start = file.sql.rfind("\n", 0, token.start) + 1
    indentation = file.sql[line_start : token.start]
    if "\n" in gap and not indentation.strip():
        return "\n" + indentation
    return " "


def reparses_to(text: str, node: ast.Node) -> bool:
    """Whether ``SELECT <text>`` is one statement whose only target is ``node`` (locations and
    redundant parentheses aside): the contract for expression and predicate text."""
    try:
        parsed = parser.parse_sql(f"SELECT {text}")
    except parser.ParseError:
        return False
    if len(parsed) != 1 or not isinstance(parsed[0].stmt, ast.SelectStmt):
        return False
    select = parsed[0].stmt
    targets = select.targetList or ()
    if len(targets) != 1 or select.fromClause or select.whereClause:
        return False
    target = targets[0]
    return isinstance(target, ast.ResTarget) and target.name is None and target.val == node


# --- names and descriptions ----------------------------------------------------------------------


def _check_identifiers(file: _File, tokens: list[parser.Token]) -> None:
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


def _base_name(index_name: str) -> str:
    """A DNS-1123 label from the index name: lowercase, ``_`` -> ``-``, other characters dropped."""
    name = _NOT_IN_LABEL.sub("", index_name.lower().replace("_", "-"))
    return name[:_MAX_NAME_LENGTH].strip("-") or "index"


def _unique_name(base: str, taken: set[str]) -> str:
    name, n = base, 1
    while name in taken:
        n += 1
        suffix = f"-{n}"
        name = base[: _MAX_NAME_LENGTH - len(suffix)].rstrip("-") + suffix
    taken.add(name)
    return name


def _description(file: _File, first: int) -> str:
    """The comments directly above the statement's first token: a run of comments each on its own
    line(s), with no blank line between them or before the statement."""
    texts: list[str] = []
    boundary = file.tokens[first].start if first < len(file.tokens) else len(file.sql)
    i = first - 1
    while i >= 0 and file.tokens[i].name in _COMMENTS:
        token = file.tokens[i]
        if file.sql.count("\n", token.end + 1, boundary) > 1:
            break  # a blank line: the comment belongs to something else
        line_start = file.sql.rfind("\n", 0, token.start) + 1
        if file.sql[line_start : token.start].strip():
            break  # a trailing comment of the previous statement
        texts.insert(0, _comment_text(file.text(token, token)))
        boundary, i = token.start, i - 1
    lines = "\n".join(texts).split("\n")
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


def _comment_text(raw: str) -> str:
    if raw.startswith("--"):
        return raw.lstrip("-").strip()
    lines = [line.strip() for line in raw[2:-2].split("\n")]
    return "\n".join(line[1:].strip() if line.startswith("*") else line for line in lines)


_OBJECT_WORDS: Final = {
    enums.ObjectType.OBJECT_MATVIEW: "MATERIALIZED VIEW",
    enums.ObjectType.OBJECT_FOREIGN_TABLE: "FOREIGN TABLE",
}
_TRANSACTION_TAGS: Final = {"START": "START TRANSACTION", "PREPARE": "PREPARE TRANSACTION"}
_TAGS: Final = {
    "CreateStmt": "CREATE TABLE",
    "ViewStmt": "CREATE VIEW",
    "CreateSeqStmt": "CREATE SEQUENCE",
    "AlterSeqStmt": "ALTER SEQUENCE",
    "CreateTrigStmt": "CREATE TRIGGER",
    "CreateEnumStmt": "CREATE TYPE",
    "CompositeTypeStmt": "CREATE TYPE",
    "RuleStmt": "CREATE RULE",
    "CreatedbStmt": "CREATE DATABASE",
}


def _statement_tag(node: ast.Node) -> str:
    """A readable name for a skipped statement, close to PostgreSQL's command tags."""
    name = type(node).__name__
    if isinstance(node, ast.TransactionStmt):
        kind = node.kind.name.removeprefix("TRANS_STMT_") if node.kind is not None else ""
        return _TRANSACTION_TAGS.get(kind, kind.replace("_", " ")) or "TRANSACTION"
    if isinstance(node, ast.VariableSetStmt):
        resets = (enums.VariableSetKind.VAR_RESET, enums.VariableSetKind.VAR_RESET_ALL)
        return "RESET" if node.kind in resets else "SET"
    if isinstance(node, ast.AlterTableStmt):
        return f"ALTER {_object_word(node.objtype)}"
    if isinstance(node, ast.RenameStmt):
        return f"ALTER {_object_word(node.renameType)}"
    if isinstance(node, ast.DropStmt):
        return f"DROP {_object_word(node.removeType)}"
    if isinstance(node, ast.CreateTableAsStmt):
        return f"CREATE {_object_word(node.objtype)}"
    if isinstance(node, ast.CreateFunctionStmt):
        return "CREATE PROCEDURE" if node.is_procedure else "CREATE FUNCTION"
    if isinstance(node, ast.GrantStmt):
        return "GRANT" if node.is_grant else "REVOKE"
    if name in _TAGS:
        return _TAGS[name]
    words = re.findall(r"[A-Z][a-z]*", name.removesuffix("Stmt"))  # CreateExtension -> ...
    return " ".join(words).upper() or name


def _object_word(objtype: Any) -> str:
    kind = enums.ObjectType(objtype)
    return _OBJECT_WORDS.get(kind, kind.name.removeprefix("OBJECT_").replace("_", " "))
