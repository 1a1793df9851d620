"""The `dbindex-operator` command: `run` starts the operator, `import` turns SQL into manifests,
`lint` gates migrations that would lock writes, `plan` shows what the operator would do about
manifests, and the SQL."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from dbindex_operator.cli import run as run_command

LOG_LEVELS = ("debug", "info", "warning", "error")


class _Parser(argparse.ArgumentParser):
    """argparse, with the exit status of a usage error settable per command (argparse: 2)."""

    usage_status = 2

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(self.usage_status, f"{self.prog}: error: {message}\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dbindex-operator", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = commands.add_parser("run", help="run the operator (Kopf, standalone)")
    scope = run.add_mutually_exclusive_group()
    scope.add_argument(
        "-A",
        "--all-namespaces",
        action="store_true",
        help="watch DatabaseIndex objects in every namespace (default)",
    )
    scope.add_argument(
        "-n",
        "--namespace",
        action="append",
        default=[],
        metavar="NS",
        help="watch only this namespace (repeatable)",
    )
    run.add_argument("--log-level", choices=LOG_LEVELS, default="info")
    run.add_argument(
        "--liveness",
        metavar="URL",
        default=None,
        help="serve Kopf's liveness probe, e.g. http://0.0.0.0:8080/healthz",
    )
    run_command.add_replicas(run)

    from dbindex_operator.tools.importing import HELP_EPILOG, TOOLS

    importer = commands.add_parser(
        "import",
        help="print DatabaseIndex manifests for the CREATE INDEX statements in SQL migrations",
        epilog=HELP_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    importer.add_argument(
        "files",
        nargs="+",
        metavar="FILE|DIR",
        help="SQL files, migration directories, or - for stdin (read in this order)",
    )
    importer.add_argument("--namespace", default=None)
    importer.add_argument("--secret", default="database", help="Secret holding the DSN")
    importer.add_argument("--key", default=None, help="key in the Secret (default: dsn)")
    importer.add_argument("--deletion-policy", choices=("Retain", "Delete"), default="Retain")
    importer.add_argument(
        "--tool",
        choices=TOOLS,
        default=None,
        help="the migration tool whose layout the directories follow (default: recognised)",
    )
    importer.add_argument(
        "--require-names",
        action="store_true",
        help="refuse CREATE INDEX without an index name (default: PostgreSQL's name, a note)",
    )

    _add_lint(commands)
    _add_plan(commands)

    args = parser.parse_args(argv)
    if args.command == "run":
        return run_command.run(args, run_command.options(args, run))
    if args.command == "plan":
        return _plan(args)
    if args.command == "lint":
        return _lint(args)
    return _import(args, importer)


def _add_lint(commands: argparse._SubParsersAction[_Parser]) -> None:
    from dbindex_operator.tools import linting
    from dbindex_operator.tools.importing import TOOLS

    linter = commands.add_parser(
        "lint",
        help="report migration statements that would lock writes (a CI gate)",
        description="Report every statement of SQL migrations that would lock writes on a table "
        "the same migration did not create, with the manifest that builds the index instead.",
        epilog=linting.HELP_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    linter.usage_status = linting.EXIT_USAGE
    linter.add_argument(
        "files",
        nargs="+",
        metavar="FILE|DIR",
        help="SQL files, migration directories, or - for stdin (read in this order)",
    )
    linter.add_argument("-o", "--output", choices=linting.OUTPUTS, default="text")
    linter.add_argument(
        "--tool",
        choices=TOOLS,
        default=None,
        help="the migration tool that runs the files (default: recognised from directories)",
    )
    linter.add_argument("--namespace", default=None, help="namespace of suggested manifests")
    linter.add_argument("--secret", default="database", help="Secret of suggested manifests")


def _lint(args: argparse.Namespace) -> int:
    from dbindex_operator.tools import linting

    return linting.run(
        args.files,
        output=args.output,
        stdin=sys.stdin,
        stdout=sys.stdout,
        stderr=sys.stderr,
        tool=args.tool,
        secret=args.secret,
        namespace=args.namespace,
    )


def _add_plan(commands: argparse._SubParsersAction[_Parser]) -> None:
    from dbindex_operator.tools import planning

    planner = commands.add_parser(
        "plan",
        help="show what the operator would do about DatabaseIndex manifests, and the exact SQL",
        description="Show what the operator would do about each DatabaseIndex manifest and "
        "the exact SQL, without changing anything.",
        epilog=planning.HELP_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    planner.usage_status = planning.EXIT_PROBLEM  # 2 means an invalid manifest here
    planner.add_argument(
        "-f",
        "--filename",
        action="append",
        required=True,
        metavar="FILE|DIR|-",
        help="manifests: a YAML file, a directory of them, or - for stdin (repeatable)",
    )
    where = planner.add_mutually_exclusive_group(required=True)
    where.add_argument("--dsn", metavar="URI", help="plan every manifest against this database")
    where.add_argument(
        "--from-cluster",
        action="store_true",
        help="read each manifest's Secret and live object from the API server (KUBECONFIG)",
    )
    planner.add_argument(
        "-n",
        "--namespace",
        metavar="NS",
        default=None,
        help=f"namespace of manifests without one (default: {planning.DEFAULT_NAMESPACE})",
    )
    planner.add_argument("-o", "--output", choices=planning.OUTPUTS, default="table")


def _import(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from dbindex_operator.tools import importing

    return importing.run(
        args.files,
        namespace=args.namespace,
        secret=args.secret,
        key=args.key,
        deletion_policy=args.deletion_policy,
        stdin=sys.stdin,
        stdout=sys.stdout,
        stderr=sys.stderr,
        tool=args.tool,
        require_names=args.require_names,
    )


def _plan(args: argparse.Namespace) -> int:
    from dbindex_operator.tools import planning_live

    return planning_live.run(
        args.filename,
        dsn=args.dsn,
        from_cluster=args.from_cluster,
        namespace=args.namespace,
        output=args.output,
        stdin=sys.stdin,
        stdout=sys.stdout,
        stderr=sys.stderr,
    )


def kubectl_dbindex(argv: Sequence[str] | None = None) -> int:
    """`kubectl dbindex` (the kubectl-dbindex console script): tools/kubectl_plugin, with its
    `import` and `plan` run by this command line's own `main`."""
    from dbindex_operator.tools import kubectl_plugin

    return kubectl_plugin.main(argv, main)


if __name__ == "__main__":
    sys.exit(main())
