"""The command line of `kubectl dbindex` (argparse)."""

from __future__ import annotations

import argparse
from typing import Final

PROG: Final = "kubectl dbindex"
DELEGATED: Final = ("import", "plan")  # handed whole to `dbindex-operator import|plan`
OUTPUTS: Final = ("table", "json")

DESCRIPTION: Final = """\
Drive DatabaseIndex objects (dbindex.dev) from kubectl: live build progress with an ETA, why an
object is where it is, and retry / pause / resume. The SQL tools of dbindex-operator are here
too (import, plan)."""

EPILOG: Final = """\
Examples:
  kubectl dbindex status -n app                 one line per object: phase, progress, ETA
  kubectl dbindex status -A --watch             redraw until all are Ready or one Failed
  kubectl dbindex status -n app -o json         for scripts
  kubectl dbindex describe idx-users-email -n app
  kubectl dbindex retry idx-users-email -n app  after fixing the cause of a Failed build
  kubectl dbindex pause idx-users-email -n app  plan only: status.plan shows the SQL
  kubectl dbindex import db/migrations --namespace app --secret app-db | kubectl apply -f -
  kubectl dbindex plan -f indexes.yaml --from-cluster -n app

Exit codes: 0 success (status --watch: every object Ready), 1 an object Failed (status
--watch), 2 usage error, 3 kubectl failed (message on stderr)."""


def _common() -> argparse.ArgumentParser:
    """Flags every subcommand takes: where to look (like kubectl's)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-n", "--namespace", metavar="NS", default=None, help="namespace (default: the context's)"
    )
    common.add_argument("--context", default=None, help="kubeconfig context (passed to kubectl)")
    common.add_argument("--kubeconfig", default=None, help="kubeconfig file (passed to kubectl)")
    return common


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog=PROG,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = _common()

    status = commands.add_parser(
        "status",
        parents=[common],
        help="one line per object: phase, progress bar, PostgreSQL phase, partitions, "
        "blocking PIDs, attempts, age, ETA",
    )
    status.add_argument(
        "-A", "--all-namespaces", action="store_true", help="objects in every namespace"
    )
    status.add_argument("-l", "--selector", default=None, help="label selector, as kubectl's")
    status.add_argument(
        "-w",
        "--watch",
        action="store_true",
        help="redraw until every object is Ready or Failed; exit 0 if all are Ready, 1 if any "
        "Failed",
    )
    status.add_argument(
        "--interval", type=float, default=1.0, help="seconds between redraws (--watch)"
    )
    status.add_argument("-o", "--output", choices=OUTPUTS, default="table")

    describe = commands.add_parser(
        "describe",
        parents=[common],
        help="conditions, the last error and what its SQLSTATE means, events, the SQL",
    )
    describe.add_argument("name")

    for name, text in (
        ("retry", "start a fresh series of attempts (the dbindex.dev/retry annotation)"),
        ("pause", "set spec.paused: nothing is executed, status.plan shows what would run"),
        ("resume", "clear spec.paused: the planned work runs"),
    ):
        command = commands.add_parser(name, parents=[common], help=text)
        command.add_argument("name")

    for name in DELEGATED:
        commands.add_parser(
            name,
            add_help=False,
            help=f"dbindex-operator {name} (all arguments passed on; `{PROG} {name} --help`)",
        )
    return top
