"""Turn migration SQL into DatabaseIndex manifests (``dbindex-operator import``).

The inputs are SQL files, standard input (``-``) and migration directories (SQLx, Flyway,
golang-migrate, goose, dbmate, or plain numbered files), read in order as one sequence of
migrations. Each file is parsed with PostgreSQL's own parser (pglast); every CREATE INDEX becomes
one DatabaseIndex manifest unless a later statement drops it (renames are followed), printed as a
YAML stream on standard output. Other statements are skipped with a note on standard error, or
followed where they matter (``search_path``, the tables created, drops and renames). A CREATE
INDEX that a manifest cannot express faithfully (ON ONLY without its ATTACH PARTITIONs, opclass
parameters, a temporary table, ...) is an error and prints nothing: a manifest that builds a
different index than the migration would be worse than none.

The stages, one module each:

    inputs   the command line's files and directories, read before anything is converted
    layouts  a directory -> its up migrations in the tool's order (sections: goose/dbmate up parts)
    psql     psql meta-commands and COPY data, blanked before parsing
    parse    tokens, statements and syntax errors; offsets -> lines
    driver   files in order, statement by statement; the manifests of the end state
    follow   the statements that matter besides CREATE INDEX, into
               relations    what the migrations created (temporary? partitioned?), the entries
               search_path  SET search_path and friends; where an unqualified name resolves
               columns      DROP / RENAME COLUMN and the indexes using the column
    partitions  ON ONLY + ALTER INDEX ... ATTACH PARTITION of every partition -> one manifest
    naming   the name PostgreSQL gives an index without one
    spec     an ``IndexStmt`` -> the spec (checked by the operator's own validation)
    text     the user's own text of expressions and predicates, checked to re-parse
    render   metadata (name, namespace, annotations) and the YAML stream
    model    options in, diagnostics and results out, ``Inexpressible``; tags: skipped statements

Diagnostics go to standard error as ``FILE:LINE: message`` (notes) and
``FILE:LINE: error: message`` (errors); LINE is the line of the statement's first token.

Exit codes (also in HELP_EPILOG):
    0  every CREATE INDEX statement was converted (notes allowed; also when there were none)
    1  at least one statement could not be converted, or a file has a syntax error;
       the statements that could be converted are still printed
    2  usage error (bad option value, no input) or an input could not be read; nothing is printed
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, TextIO

from dbindex_operator.tools.importing import inputs
from dbindex_operator.tools.importing.driver import Importer
from dbindex_operator.tools.importing.inputs import STDIN_NAME, STDIN_PATH
from dbindex_operator.tools.importing.layouts import TOOLS
from dbindex_operator.tools.importing.model import (
    DEFAULT_DELETION_POLICY,
    DELETION_POLICIES,
    Diagnostic,
    ImportResult,
    Inexpressible,
    Options,
    option_problems,
)
from dbindex_operator.tools.importing.render import (
    DESCRIPTION_ANNOTATION,
    MIGRATION_ANNOTATION,
    SOURCE_ANNOTATION,
    dump,
)
from dbindex_operator.tools.importing.text import reparses_to

__all__ = [
    "DEFAULT_DELETION_POLICY",
    "DELETION_POLICIES",
    "DESCRIPTION_ANNOTATION",
    "EXIT_NOT_CONVERTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "HELP_EPILOG",
    "MIGRATION_ANNOTATION",
    "SOURCE_ANNOTATION",
    "STDIN_NAME",
    "STDIN_PATH",
    "TOOLS",
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
Reads SQL migration files (- for standard input) and migration directories, in the order given,
and prints one DatabaseIndex manifest per CREATE INDEX statement as a YAML stream. Other
statements are skipped with a note on standard error. SQL comments directly above a statement
become the dbindex.dev/description annotation.

A directory is read the way its migration tool runs it: SQLx (NNN_name.sql, .up.sql), Flyway
(V1_2__name.sql, then R__name.sql), golang-migrate (N_name.up.sql), goose (-- +goose Up), dbmate
(-- migrate:up) or plain numbered files, in version order (--tool forces the layout). Its
manifests carry the annotations dbindex.dev/source (FILE:LINE) and dbindex.dev/migration (the
version). The migrations are followed to their end state: an index dropped later gets no
manifest, a renamed one the new name; SET search_path decides the schema of unqualified tables;
psql meta-commands (\\set, \\connect, ...) are skipped. An index without a name gets the name
PostgreSQL would give it (--require-names refuses it instead).

A CREATE INDEX that a manifest cannot express is reported as FILE:LINE: error: ... and not
printed: ON ONLY (unless the same file attaches an index of every partition to it), operator
class parameters, a database-qualified table, a temporary table, an
identifier longer than 63 bytes, anything the operator itself would refuse (such as an access
method it does not support).

exit codes:
  0  every CREATE INDEX statement was converted (notes allowed; also when there were none)
  1  at least one statement could not be converted, or a file has a syntax error
     (the statements that could be converted are still printed)
  2  usage error or unreadable input (nothing is printed)
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
    tool: str | None = None,
    require_names: bool = False,
) -> int:
    """Convert every input in ``paths`` and print the manifests; return the exit code."""
    options = Options(namespace, secret, key, deletion_policy)
    problems = option_problems(options)
    if not paths:
        problems.append(f"no input files given (use {STDIN_PATH} for standard input)")
    if tool is not None and tool not in TOOLS:
        problems.append(f"tool {tool!r} is not one of {', '.join(TOOLS)}")
    for problem in problems:
        print(f"error: {problem}", file=stderr)
    read = None if problems else inputs.read_inputs(paths, stdin, stderr, tool)
    if read is None:
        return EXIT_USAGE

    importer = Importer(options, require_names=require_names)
    for given in read:
        importer.diagnostics.extend(given.diagnostics)
        indexes = 0
        for source in given.sources:
            indexes += importer.add_file(
                source.filename, source.sql, version=source.version, note_empty=not given.tree
            )
        if given.tree and indexes == 0:
            importer.diagnostics.append(
                Diagnostic(given.path, None, "no CREATE INDEX statements found")
            )
    manifests = importer.manifests()
    for diagnostic in importer.diagnostics:
        print(diagnostic, file=stderr)
    if manifests:
        dump(manifests, stdout)
    failed = any(d.error for d in importer.diagnostics)
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
    require_names: bool = False,
    version: str | None = None,
) -> ImportResult:
    """Convert one file's text (as migration ``version`` of a tree, if given). ``taken`` holds
    metadata names already used in the output (it is updated), so that names stay unique across
    files; raises ValueError on bad options."""
    options = Options(namespace, secret, key, deletion_policy)
    problems = option_problems(options)
    if problems:
        raise ValueError("; ".join(problems))
    importer = Importer(options, require_names=require_names, taken=taken)
    importer.add_file(filename, sql, version=version)
    manifests: list[dict[str, Any]] = importer.manifests()
    return ImportResult(manifests, importer.diagnostics)
