"""``dbindex-operator lint``: a CI gate that reports every statement of a migration tree that would
lock writes on a table the same migration did not create, or fail, or leave a trap (the rules and
their names: ``rules``). The inputs are read exactly as ``import`` reads them (files, ``-``,
directories of SQLx, Flyway, golang-migrate, goose, dbmate or plain migrations, in order; only up
sections); whether the tool wraps a file in a transaction: ``transactions``. Each CREATE INDEX
finding carries the manifest ``import`` would produce for it (a DatabaseIndex builds it without
locking writes). Pure: no database.

    rules         one file's statements -> findings
    transactions  does the tool run the file in a transaction of its own?
    report        text, json, github
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, TextIO

from dbindex_operator.tools.importing import inputs, layouts, render
from dbindex_operator.tools.importing.driver import Importer
from dbindex_operator.tools.importing.model import DEFAULT_DELETION_POLICY, Options
from dbindex_operator.tools.linting import report, rules, transactions
from dbindex_operator.tools.linting.report import OUTPUTS
from dbindex_operator.tools.linting.rules import RULES, Finding

__all__ = ["EXIT_FINDINGS", "EXIT_OK", "EXIT_UNREADABLE", "EXIT_USAGE", "HELP_EPILOG", "OUTPUTS"]
__all__ += ["RULES", "Finding", "run"]

EXIT_OK: Final = 0
EXIT_USAGE: Final = 1
EXIT_UNREADABLE: Final = 2
EXIT_FINDINGS: Final = 3

HELP_EPILOG: Final = """\
Reads SQL migration files (- for standard input) and migration directories the way `import`
does (the tool's layout and order, up sections only, psql meta-commands skipped) and reports
every statement that would lock writes on a table not created earlier in the same migration:

  create-index-not-concurrent   CREATE INDEX without CONCURRENTLY
  concurrently-in-transaction   CONCURRENTLY inside a transaction: the tool's (sqlx without
                                -- no-transaction, flyway without executeInTransaction=false
                                unless it recognises the statement itself, goose without
                                -- +goose NO TRANSACTION, dbmate without transaction:false),
                                a flyway script mixing it with other statements (refused
                                unless mixed=true), BEGIN ... COMMIT in the file, or
                                the implicit one of a query string of several statements
                                (golang-migrate sends each file as one, unless
                                x-multi-statement=true; so do dbmate with transaction:false
                                and sqlx with -- no-transaction)
  concurrent-if-not-exists      CREATE INDEX CONCURRENTLY IF NOT EXISTS (accepts an INVALID index
                                a failed build left behind)
  reindex-not-concurrent        REINDEX without CONCURRENTLY
  drop-index-not-concurrent     DROP INDEX without CONCURRENTLY

A CREATE INDEX finding shows the DatabaseIndex manifest `import` would print for it.

exit codes:
  0  no findings
  1  usage error
  2  an input could not be read or parsed
  3  findings
"""


def run(
    paths: Sequence[str],
    *,
    output: str,
    stdin: TextIO,
    stdout: TextIO,
    stderr: TextIO,
    tool: str | None = None,
    secret: str = "database",
    namespace: str | None = None,
) -> int:
    """Lint every input in ``paths``; print the findings; return the exit code."""
    problems = [] if paths else ["no input files given (use - for standard input)"]
    if tool is not None and tool not in layouts.TOOLS:
        problems.append(f"tool {tool!r} is not one of {', '.join(layouts.TOOLS)}")
    if output not in OUTPUTS:
        problems.append(f"output {output!r} is not one of {', '.join(OUTPUTS)}")
    for problem in problems:
        print(f"error: {problem}", file=stderr)
    if problems:
        return EXIT_USAGE
    read = inputs.read_inputs(paths, stdin, stderr, tool)
    if read is None:
        return EXIT_UNREADABLE
    importer = Importer(Options(namespace, secret, None, DEFAULT_DELETION_POLICY))
    findings: list[Finding] = []
    unparsable = False
    for given in read:
        for source in given.sources:
            raw = source.sql if source.raw is None else source.raw
            how = transactions.running(source.tool, raw, _flyway_conf(source))
            found, syntax_errors = rules.check(source.filename, source.sql, how)
            for error in syntax_errors:
                print(error, file=stderr)
            unparsable = unparsable or bool(syntax_errors)
            suggestions = _suggestions(importer, source)
            for finding in found:
                finding.suggestion = suggestions.get(finding.line)
            findings.extend(found)
    report.write(findings, output, stdout)
    if unparsable:
        return EXIT_UNREADABLE
    return EXIT_FINDINGS if findings else EXIT_OK


def _suggestions(importer: Importer, source: inputs.Source) -> dict[int, dict[str, Any]]:
    """The manifest ``import`` makes of each CREATE INDEX of the file, by line (the importer
    follows the whole sequence of files, so search_path, names and renames are its)."""
    before = len(importer.entries)
    importer.add_file(source.filename, source.sql, version=source.version)
    manifests = {}
    for entry in importer.entries[before:]:
        name = render.unique_name(render.base_name(entry.spec["name"]), importer.taken)
        manifests[entry.line] = render.manifest(
            dict(entry.spec),
            name=name,
            namespace=importer.options.namespace,
            description=entry.description,
            source=entry.where if entry.version is not None else None,
            migration=entry.version,
        )
    return manifests


def _flyway_conf(source: inputs.Source) -> str | None:
    """Flyway's script configuration file next to the migration (``V1__x.sql.conf``), if any."""
    if source.tool != layouts.FLYWAY:
        return None
    try:
        with open(source.filename + ".conf", encoding="utf-8") as f:
            return f.read()
    except OSError:
        return None
