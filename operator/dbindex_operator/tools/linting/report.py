"""The findings as text (``FILE:LINE: rule: message`` and the suggested manifest indented), JSON,
or GitHub Actions workflow commands (``::error file=F,line=L,title=RULE::message``)."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from typing import Final, TextIO

from dbindex_operator.tools.importing import dump
from dbindex_operator.tools.linting.rules import Finding

OUTPUTS: Final = ("text", "json", "github")


def write(findings: Sequence[Finding], output: str, out: TextIO) -> None:
    if output == "json":
        rows = [
            {
                "file": f.filename,
                "line": f.line,
                "rule": f.rule,
                "message": f.message,
                "suggestion": f.suggestion,
            }
            for f in findings
        ]
        json.dump(rows, out, indent=2)
        out.write("\n")
        return
    for finding in findings:
        if output == "github":
            print(
                f"::error file={_property(finding.filename)},line={finding.line},"
                f"title={_property(finding.rule)}::{_data(finding.message)}",
                file=out,
            )
            continue
        print(f"{finding.filename}:{finding.line}: {finding.rule}: {finding.message}", file=out)
        if finding.suggestion is not None:
            text = io.StringIO()
            dump([finding.suggestion], text)
            lines = [line for line in text.getvalue().splitlines() if line != "---"]
            print("    suggested manifest:", file=out)
            for line in lines:
                print(f"      {line}", file=out)


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")
