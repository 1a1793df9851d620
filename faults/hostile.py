"""Scenario 8: hostile and malformed specs, rejected before any SQL runs.

Every case is applied to a namespace whose Secret points at a dedicated database that logs its
connections and every statement (faults/pglog.py). A case is rejected either by the API server
(the CRD's schema and CEL rules) or by the operator (Failed / InvalidSpec). The proof that no
SQL ran is PostgreSQL's log: no session of the operator in that database, and its catalog and
the `canary` table unchanged.

Not in this list on purpose: values that are legal SQL and stay inert when quoted (a table
named "t\u202e" or "   ", an opclass named "text_ops(x)"), and predicates or expressions that
call volatile functions (`pg_sleep(10) IS NOT NULL`, `lo_import(...)`): they reach PostgreSQL,
which refuses them before executing anything (42P17 / 42704). docs/reliability.md says so.
"""

from __future__ import annotations

import time
from typing import Any

from tests.harness import pg

from faults import pglog
from faults.context import APPLICATION, Context, Run, reason

_DROP = "DROP TABLE canary"
LONG = "é" * 40  # 40 characters, 80 bytes: within the CRD's maxLength, over PostgreSQL's 63
CASES: list[tuple[str, dict[str, Any]]] = [
    # injection into every string field
    ("where-statement", {"where": f"id > 0; {_DROP}"}),
    ("where-close-paren", {"where": f"id > 0); {_DROP}; --"}),
    ("where-line-comment", {"where": "id > 0 -- comment"}),
    ("where-block-comment", {"where": "id > 0 /* c */"}),
    ("where-nested-comment", {"where": f"id > 0 /* /* */ {_DROP}; */"}),
    ("where-subquery", {"where": "id IN (SELECT id FROM canary)"}),
    ("where-exists", {"where": "EXISTS (SELECT 1)"}),
    ("where-values", {"where": "id IN (VALUES (1))"}),
    ("where-cte", {"where": "id > 0 AND (WITH x AS (SELECT 1) SELECT true)"}),
    ("where-with-clause", {"where": "true) WITH (fillfactor=10"}),
    ("where-tablespace", {"where": "id > 0) TABLESPACE pg_global WHERE (true"}),
    ("where-union", {"where": "1=1 UNION SELECT 1"}),
    ("where-sleep-subquery", {"where": "(SELECT pg_sleep(10)) IS NULL"}),
    ("where-empty", {"where": ""}),
    ("where-unterminated", {"where": "'unterminated"}),
    ("where-copy-program", {"where": "id > 0; COPY canary TO PROGRAM 'id'"}),
    ("where-escape-string", {"where": f"email = E'\\\\'; {_DROP}; --'"}),
    ("where-fullwidth-semicolon", {"where": f"id > 0 \uff1b {_DROP}"}),
    ("where-nul", {"where": f"id > 0\x00; {_DROP}"}),
    ("expression-statement", {"columns": [{"expression": f"lower(email)); {_DROP}; --"}]}),
    ("expression-two-columns", {"columns": [{"expression": "lower(email)) , (id"}]}),
    ("expression-subquery", {"columns": [{"expression": "(SELECT max(id) FROM canary)"}]}),
    ("expression-list", {"columns": [{"expression": "id, email"}]}),
    ("expression-delete", {"columns": [{"expression": "id; DELETE FROM canary"}]}),
    ("expression-comment", {"columns": [{"expression": "id -- "}]}),
    ("expression-dollar-subquery", {"columns": [{"expression": "$$x$$ || (SELECT 1)"}]}),
    ("expression-array-subquery", {"columns": [{"expression": "ARRAY(SELECT 1)"}]}),
    ("expression-semicolon", {"columns": [{"expression": ";"}]}),
    ("expression-empty", {"columns": [{"expression": ""}]}),
    ("table-quote", {"table": f't"; {_DROP}; --'}),
    ("table-statement", {"table": f"t; {_DROP}"}),
    ("table-qualified-statement", {"table": "public.t; x"}),
    ("name-quote", {"name": f'x"; {_DROP}; --'}),
    ("name-newline", {"name": f"x\n{_DROP}"}),
    ("schema-quote", {"schema": f'public"; {_DROP}; --'}),
    ("include-quote", {"include": [f'id"); {_DROP}; --']}),
    ("include-empty", {"include": [""]}),
    ("opclass-statement", {"columns": [{"column": "email", "opclass": f"text_ops; {_DROP}"}]}),
    ("collation-quote", {"columns": [{"column": "email", "collation": f'C"; {_DROP}; --'}]}),
    ("tablespace-statement", {"tablespace": f"pg_default; {_DROP}"}),
    ("tablespace-quote", {"tablespace": f'pg_default" ; {_DROP}; --'}),
    ("storage-key-injection", {"storageParameters": {f"fillfactor = 10); {_DROP}; --": "1"}}),
    ("storage-value-injection", {"storageParameters": {"fillfactor": f"90); {_DROP}; --"}}),
    ("window-schedule-injection", {"window": {"windows": [{"schedule": f"; {_DROP}"}]}}),
    # oversized values
    ("name-over-63-bytes", {"name": LONG}),
    ("table-over-63-bytes", {"table": LONG}),
    ("schema-over-63-bytes", {"schema": LONG}),
    ("column-over-63-bytes", {"columns": [{"column": LONG}]}),
    ("storage-huge-number", {"storageParameters": {"fillfactor": "9" * 50}}),
    ("where-over-8k", {"where": "id > 0 AND " * 800 + "true"}),
    # unicode tricks and control characters
    ("table-nul", {"table": "t\x00x"}),
    ("name-nul", {"name": "x\x00y"}),
    ("where-rtl-override", {"where": f"id > 0 \u202e; {_DROP}"}),
    ("where-zero-width-space", {"where": f"id > 0\u200b; {_DROP}"}),
    # wrong values the CRD's types let through
    ("storage-not-a-number", {"storageParameters": {"fillfactor": "abc"}}),
    ("storage-out-of-range", {"storageParameters": {"fillfactor": "9"}}),
    ("storage-table-parameter", {"storageParameters": {"autovacuum_enabled": "off"}}),
    (
        "window-time-zone-path",
        {"window": {"windows": [{"schedule": "0 2 * * *", "timeZone": "../../etc/passwd"}]}},
    ),
    ("column-and-expression", {"columns": [{"column": "email", "expression": "lower(email)"}]}),
    ("column-nor-expression", {"columns": [{}]}),
    ("empty-table", {"table": ""}),
    ("columns-wrong-type", {"columns": "email"}),
    ("unique-wrong-type", {"unique": "yes"}),
]


def spec(patch: dict[str, Any]) -> dict[str, Any]:
    base: dict[str, Any] = {
        "connection": {"secretRef": {"name": "db"}},
        "table": "t",
        "columns": [{"column": "email"}],
    }
    base.update(patch)
    return base


def _catalog(dsn: str) -> list[tuple[Any, ...]]:
    rows = pg.query(
        dsn,
        "SELECT c.relname, c.relkind, c.relfilenode FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') ORDER BY 1",
    )
    return [tuple(r) for r in rows]


def hostile_specs(ctx: Context) -> Run:
    run = Run()
    namespace, dsn = ctx.target()
    dbname = dsn.rsplit("/", 1)[1]
    pg.execute(dsn, "CREATE TABLE t (id int, email text); CREATE TABLE canary (id int)")
    pg.execute(dsn, "INSERT INTO canary SELECT generate_series(1, 10)")
    before = _catalog(dsn)
    start = ctx.postgres.log_size()
    with pglog.logging_everything(ctx.admin, dbname):
        return _apply(ctx, run, namespace, dsn, dbname, before, start)


def _apply(
    ctx: Context,
    run: Run,
    namespace: str,
    dsn: str,
    dbname: str,
    before: list[tuple[Any, ...]],
    start: int,
) -> Run:
    by_api, created = 0, []
    for i, (label, patch) in enumerate(CASES):
        name = f"h{i:02d}"
        try:
            ctx.kube.create(namespace, name, spec(patch), annotations={"faults/case": label})
        except Exception:  # 422 from the schema/CEL rules (or 400 for bytes JSON refuses)
            by_api += 1
            continue
        created.append(name)
    accepted: list[str] = []
    for name in created:
        status, _ = ctx.wait(namespace, name, lambda s: bool(s.get("phase")), 60, "a status")
        if not (status.get("phase") == "Failed" and reason(status, "Degraded") == "InvalidSpec"):
            accepted.append(CASES[int(name[1:])][0])
    time.sleep(2)  # anything the operator would still send reaches the log by now
    seen = pglog.activity(ctx.postgres.log_since(start), dbname, APPLICATION)
    intact = (
        _catalog(dsn) == before and pg.query(dsn, "SELECT count(*) AS n FROM canary")[0]["n"] == 10
    )
    run.figures.update(
        cases=len(CASES),
        rejected_by_api_server=by_api,
        rejected_by_operator=len(created) - len(accepted),
        accepted=accepted,
        operator_connections=seen.connections,
        operator_statements=seen.statements,
    )
    run.ok = not accepted and seen.connections == 0 and seen.statements == 0 and intact
    if not run.ok:
        run.error = f"accepted {accepted}, SQL seen {seen.sample}, catalog intact {intact}"
    return run
