"""`kubectl dbindex`: the operator's kubectl plugin (the `kubectl-dbindex` console script).

Modules:
  args        the command line
  cluster     the API server, through the kubectl that runs the plugin (why: see there)
  rendering   pure: an object -> a status Row; plain text, progress bar, ages, ETA, JSON
  describing  pure: `describe` (conditions, SQLSTATE meanings, events, the SQL from core/)
  terminal    the same Rows drawn with rich on a terminal (live redraw for --watch)
  commands    the subcommands

`import` and `plan` are the dbindex-operator commands themselves: the cli hands its own entry
point in as `delegate` (tools never import the cli; .importlinter's layers).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from dbindex_operator.tools.kubectl_plugin import args as arguments
from dbindex_operator.tools.kubectl_plugin import commands


def main(argv: Sequence[str] | None, delegate: Callable[[Sequence[str]], int]) -> int:
    """Run `kubectl dbindex ARGV`; `delegate(["import"|"plan", ...])` runs those commands."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in arguments.DELEGATED:
        return delegate(argv)
    parsed = arguments.parser().parse_args(argv)
    return commands.run(parsed, sys.stdout, sys.stderr)
