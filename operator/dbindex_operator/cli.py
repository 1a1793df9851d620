"""The `dbindex-operator` command: `run` starts the operator, `import` turns SQL into manifests."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

LOG_LEVELS = ("debug", "info", "warning", "error")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dbindex-operator", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

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

    importer = commands.add_parser(
        "import",
        help="print DatabaseIndex manifests for the CREATE INDEX statements in SQL files",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    importer.add_argument("files", nargs="+", metavar="FILE", help="SQL files, or - for stdin")
    importer.add_argument("--namespace", default=None)
    importer.add_argument("--secret", default="database", help="Secret holding the DSN")
    importer.add_argument("--key", default=None, help="key in the Secret (default: dsn)")
    importer.add_argument("--deletion-policy", choices=("Retain", "Delete"), default="Retain")

    args = parser.parse_args(argv)
    if args.command == "run":
        return _run(args)
    return _import(args, importer)


def _run(args: argparse.Namespace) -> int:
    import kopf

    level = getattr(logging, args.log_level.upper())
    kopf.configure(
        debug=args.log_level == "debug",
        verbose=args.log_level in ("debug", "info"),
        quiet=args.log_level in ("warning", "error"),
    )
    logging.getLogger().setLevel(level)
    # Per-object "handler succeeded" lines cost more than they tell at thousands of objects.
    if args.log_level != "debug":
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    import uvloop

    from dbindex_operator.runtime import handlers  # noqa: F401  (registers the handlers)

    kopf.run(
        loop=uvloop.new_event_loop(),
        standalone=True,
        clusterwide=not args.namespace,
        namespaces=args.namespace,
        liveness_endpoint=args.liveness,
    )
    return 0


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
    )


if __name__ == "__main__":
    sys.exit(main())
