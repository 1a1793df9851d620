"""`dbindex-operator import` names an unnamed index the way PostgreSQL does (integration: needs
`make up`).

The fixture tree tests/fixtures/migrations/naming/ creates tables, then indexes without names:
plain and repeated columns, INCLUDE, expressions of every kind FigureIndexColname names (and
those it does not), names already taken (``_idx1``, ``_idx2``), a name freed by DROP INDEX, and
names cut to 63 bytes, multibyte ones too. Each statement runs on a real PostgreSQL, one at a
time; after each unnamed CREATE INDEX the name PostgreSQL chose is read from pg_class and compared
with the name the importer gave that statement (its note, FILE:LINE).
"""

from __future__ import annotations

import io
import re
from pathlib import Path

from pglast import ast, parser

from dbindex_operator.tools import importing
from tests.conftest import REPO_ROOT
from tests.harness import pg

TREE = REPO_ROOT / "tests" / "fixtures" / "migrations" / "naming"
NAMED = re.compile(
    r"^(?P<where>.+:\d+): the index has no name: the manifest names it (?P<name>[^,]+),"
)
INDEXES = """
SELECT c.relname FROM pg_class c
WHERE c.relkind IN ('i', 'I') AND c.relnamespace = 'public'::regnamespace
"""


def importer_names() -> dict[str, str]:
    """FILE:LINE of each unnamed CREATE INDEX -> the name the importer gave it."""
    out, err = io.StringIO(), io.StringIO()
    code = importing.run(
        [str(TREE)],
        namespace=None,
        secret="db",
        key=None,
        deletion_policy="Retain",
        stdin=io.StringIO(),
        stdout=out,
        stderr=err,
    )
    assert code == importing.EXIT_OK, err.getvalue()
    matches = [NAMED.match(line) for line in err.getvalue().splitlines()]
    return {m["where"]: m["name"] for m in matches if m is not None}


def statements(path: Path) -> list[tuple[int, str, ast.Node]]:
    """(line of the first token, text, node) of every statement of a file."""
    sql = path.read_text(encoding="utf-8")
    found = []
    for raw in parser.parse_sql(sql):
        start = raw.stmt_location or 0
        text = sql[start : start + raw.stmt_len] if raw.stmt_len else sql[start:]
        first = next(t for t in parser.scan(text) if t.name not in ("SQL_COMMENT", "C_COMMENT"))
        assert raw.stmt is not None
        found.append((sql.count("\n", 0, start + first.start) + 1, text, raw.stmt))
    return found


def test_unnamed_indexes_get_the_names_postgresql_chooses(database: str) -> None:
    ours = importer_names()
    compared: dict[str, tuple[str, str]] = {}
    for path in sorted(TREE.glob("*.sql")):
        for line, text, node in statements(path):
            before = {r["relname"] for r in pg.query(database, INDEXES)}
            pg.execute(database, text)
            if not isinstance(node, ast.IndexStmt) or node.idxname:
                continue
            (chosen,) = {r["relname"] for r in pg.query(database, INDEXES)} - before
            where = f"{path}:{line}"
            compared[where] = (chosen, ours.get(where, "<no name given>"))
    differences = {where: names for where, names in compared.items() if names[0] != names[1]}
    assert not differences, "PostgreSQL's name, the importer's:\n" + "\n".join(
        f"  {where}: {pg_name} {our_name}" for where, (pg_name, our_name) in differences.items()
    )
    assert len(compared) == len(ours) >= 40
