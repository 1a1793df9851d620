"""Turn migration SQL into DatabaseIndex manifests (``dbindex-operator import``).

Each file is parsed with PostgreSQL's own parser (pglast); every CREATE INDEX statement becomes
one DatabaseIndex manifest, printed as a YAML stream on standard output. Other statements are
skipped with a note on standard error. A CREATE INDEX that a manifest cannot express faithfully
(ON ONLY, opclass parameters, no index name, ...) is an error and prints nothing: a manifest that
builds a different index than the migration would be worse than none.

This module drives the stages, file by file and statement by statement; each stage is a module:

    model    options in, diagnostics and results out, ``Inexpressible``
    parse    reading the inputs; tokens, statements and syntax errors; offsets -> lines
    spec     an ``IndexStmt`` -> the spec (checked by the operator's own validation)
    text     the user's own text of expressions and predicates, checked to re-parse
    render   metadata (name, namespace, description from comments) and the YAML stream
    tags     the names of skipped statements

Diagnostics go to standard error as ``FILE:LINE: message`` (notes) and
``FILE:LINE: error: message`` (errors); LINE is the line of the statement's first token.

Exit codes (also in HELP_EPILOG):
    0  every CREATE INDEX statement was converted (notes allowed; also when there were none)
    1  at least one statement could not be converted, or a file has a syntax error;
       the statements that could be converted are still printed
    2  usage error (bad option value, no input) or a file could not be read; nothing is printed
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, TextIO

from pglast import ast

from dbindex_operator.tools.importing import parse, render, spec, tags
from dbindex_operator.tools.importing.model import (
    DEFAULT_DELETION_POLICY,
    DELETION_POLICIES,
    Diagnostic,
    ImportResult,
    Inexpressible,
    Options,
    option_problems,
)
from dbindex_operator.tools.importing.parse import STDIN_NAME, STDIN_PATH
from dbindex_operator.tools.importing.render import DESCRIPTION_ANNOTATION, dump
from dbindex_operator.tools.importing.text import reparses_to

__all__ = [
    "DEFAULT_DELETION_POLICY",
    "DELETION_POLICIES",
    "DESCRIPTION_ANNOTATION",
    "EXIT_NOT_CONVERTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "HELP_EPILOG",
    "STDIN_NAME",
    "STDIN_PATH",
    "Diagnostic",
    "ImportResult",
    "Inexpressible",
    "Options",
    "convert",
    "dump",
    "option_problems",
    "reparses_to",
    "run",
]

EXIT_OK: Final = 0
EXIT_NOT_CONVERTED: Final = 1
EXIT_USAGE: Final = 2

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
    sources = None if problems else parse.read_inputs(paths, stdin, stderr)
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


def _convert(sql: str, filename: str, options: Options, taken: set[str]) -> ImportResult:
    result = ImportResult()
    file, statements, syntax_errors = parse.split(sql, filename)
    result.diagnostics.extend(syntax_errors)
    indexes = 0
    for statement in statements:
        indexes += _convert_statement(file, statement, options, taken, result)
    result.diagnostics.sort(key=lambda d: d.line or 0)  # syntax errors among the statements
    if indexes == 0 and not syntax_errors:
        result.diagnostics.append(Diagnostic(filename, None, "no CREATE INDEX statements found"))
    return result


def _convert_statement(
    file: parse.SourceFile,
    statement: parse.Statement,
    options: Options,
    taken: set[str],
    result: ImportResult,
) -> int:
    """Append the statement's manifest or diagnostic; return how many CREATE INDEX it held."""
    first, line = parse.head(file, statement)
    node = statement.node
    if isinstance(node, ast.CreateSchemaStmt) and any(
        isinstance(e, ast.IndexStmt) for e in node.schemaElts or ()
    ):
        why = "cannot express CREATE INDEX inside CREATE SCHEMA: make it a statement of its own"
        result.diagnostics.append(Diagnostic(file.filename, line, why, error=True))
        return 1
    if not isinstance(node, ast.IndexStmt):
        note = f"skipped {tags.statement_tag(node)} statement"
        result.diagnostics.append(Diagnostic(file.filename, line, note))
        return 0
    try:
        tokens = parse.code_tokens(file, first, statement.end)
        index_spec = spec.build(file, statement, node, tokens, options)
    except Inexpressible as exc:
        result.diagnostics.append(Diagnostic(file.filename, line, str(exc), error=True))
        return 1
    result.manifests.append(
        render.manifest(
            index_spec,
            name=render.unique_name(render.base_name(node.idxname or ""), taken),
            namespace=options.namespace,
            description=render.description(file, first),
        )
    )
    return 1
