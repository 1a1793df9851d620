"""`dbindex-operator lint` as CI runs it: the installed console script in a subprocess, on each
tool's fixture tree (tests/fixtures/lint/), in every output format, with its exit codes (0 clean,
3 findings, 1 usage error, 2 unreadable or unparsable input). No server: it reads files only."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.harness.process import operator_binary
from tests.unit.test_lint import EXPECTED, LINT


def lint(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(operator_binary()), "lint", *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(("tree", "expected"), EXPECTED.items())
def test_each_tools_tree_in_every_format(tree: str, expected: list[tuple[str, int, str]]) -> None:
    directory = str(LINT / tree)
    code = 3 if expected else 0

    as_json = lint("-o", "json", directory)
    assert (as_json.returncode, as_json.stderr) == (code, "")
    rows = json.loads(as_json.stdout)
    assert [(Path(r["file"]).name, r["line"], r["rule"]) for r in rows] == expected

    github = lint("-o", "github", directory)
    assert github.returncode == code
    assert github.stdout.splitlines() == [
        f"::error file={r['file']},line={r['line']},title={r['rule']}::{r['message']}" for r in rows
    ]

    text = lint(directory)
    assert text.returncode == code
    headlines = [line for line in text.stdout.splitlines() if not line.startswith(" ")]
    assert headlines == [f"{r['file']}:{r['line']}: {r['rule']}: {r['message']}" for r in rows]
    # Every CREATE INDEX finding shows the manifest that builds it without locking writes.
    suggested = sum(r["suggestion"] is not None for r in rows)
    assert text.stdout.count("    suggested manifest:") == suggested


@pytest.mark.parametrize(
    ("args", "stdin", "code", "says"),
    [
        pytest.param([], None, 1, "arguments are required", id="no-input"),
        pytest.param(["-o", "xml", str(LINT / "clean")], None, 1, "invalid choice", id="output"),
        pytest.param(["--tool", "alembic", str(LINT / "clean")], None, 1, "alembic", id="tool"),
        pytest.param([str(LINT / "missing.sql")], None, 2, "cannot read", id="missing-file"),
        pytest.param(["-"], "CREATE INDEX ON;", 2, "syntax error", id="unparsable"),
        pytest.param(["-"], "CREATE INDEX CONCURRENTLY i ON t (a);", 0, "", id="clean-stdin"),
        pytest.param(["-"], "CREATE INDEX i ON t (a);", 3, "", id="finding-on-stdin"),
    ],
)
def test_exit_codes(args: list[str], stdin: str | None, code: int, says: str) -> None:
    result = lint(*args, input=stdin)
    assert result.returncode == code, result.stderr
    assert says in result.stderr
