"""`dbindex-operator plan`, its pure parts (tools/planning.py): manifests, the history a live
object implies, report rows per action, exit codes, the three renderings; and the command's
paths that need no database (tools/planning_live.py, cli/)."""

from __future__ import annotations

import asyncio
import io
import json
import re
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from dbindex_operator import cli
from dbindex_operator.core import catalog, errors, plan
from dbindex_operator.tools import planning, planning_live
from dbindex_operator.tools.planning import Manifest, Row, UsageError
from tests.unit.builders import SIGNATURE, index_spec, spec_dict

SPEC = index_spec("orders-by-customer")
CREATE = "CREATE INDEX CONCURRENTLY orders_by_customer ON public.orders USING btree (customer_id)"
NEW = "orders_by_customer_dbinew_e86f34dc"
OLD = "orders_by_customer_dbiold_e86f34dc"
SWAP = [
    "BEGIN",
    f"ALTER INDEX public.orders_by_customer RENAME TO {OLD}",
    f"ALTER INDEX public.{NEW} RENAME TO orders_by_customer",
    "COMMIT",
    f"DROP INDEX CONCURRENTLY IF EXISTS public.{OLD}",
]


def _doc(name: str | None = "orders-by-customer", **fields: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {} if name is None else {"name": name}
    return {
        "apiVersion": "dbindex.dev/v1alpha1",
        "kind": "DatabaseIndex",
        "metadata": metadata,
        "spec": spec_dict(**fields),
    }


def _yaml(*documents: Any) -> str:
    return yaml.safe_dump_all(documents, sort_keys=False)


def _state(**fields: Any) -> catalog.IndexState:
    base: dict[str, Any] = {"table_oid": 500, "table_kind": "r", "table_pages": 10}
    base.update(fields)
    return catalog.IndexState(**base)


def _index(**fields: Any) -> catalog.IndexState:
    base: dict[str, Any] = {
        "relation_oid": 900,
        "relation_kind": "i",
        "on_table": True,
        "valid": True,
        "signature": SIGNATURE,
    }
    base.update(fields)
    return _state(**base)


MANIFEST = Manifest("app", "orders-by-customer", SPEC)

# -- manifests --------------------------------------------------------------------------------

CONFIG_MAP = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}
FOREIGN_KIND = {**_doc(), "apiVersion": "other.dev/v1"}  # same kind, another group


@pytest.mark.parametrize(
    ("text", "namespace", "expected"),
    [
        pytest.param(
            _yaml(_doc()),
            None,
            [Manifest("default", "orders-by-customer", SPEC)],
            id="one-document-default-namespace",
        ),
        pytest.param(
            _yaml(_doc(), CONFIG_MAP, None, FOREIGN_KIND, _doc("b", table="lines")),
            "app",
            [
                Manifest("app", "orders-by-customer", SPEC),
                Manifest("app", "b", index_spec("b", table="lines")),
            ],
            id="multi-document-others-skipped",
        ),
        pytest.param(
            _yaml({"apiVersion": "v1", "kind": "List", "items": [_doc(), CONFIG_MAP]}),
            None,
            [Manifest("default", "orders-by-customer", SPEC)],
            id="a-list-of-items",
        ),
        pytest.param(
            _yaml({**_doc(), "metadata": {"name": "orders-by-customer", "namespace": "own"}}),
            None,
            [Manifest("own", "orders-by-customer", SPEC)],
            id="own-namespace",
        ),
        pytest.param(
            _yaml({**_doc(), "metadata": {"name": "orders-by-customer", "namespace": "app"}}),
            "app",
            [Manifest("app", "orders-by-customer", SPEC)],
            id="own-namespace-equal-to-flag",
        ),
        pytest.param(
            _yaml(_doc(columns=[{"column": "a;b"}])),
            None,
            [
                Manifest(
                    "default",
                    "orders-by-customer",
                    None,
                    "columns[0].column 'a;b' contains characters not allowed in names here "
                    "(quotes, ';', backslashes, control characters or comment markers)",
                )
            ],
            id="invalid-spec",
        ),
        pytest.param(
            _yaml(_doc(None)),
            None,
            [Manifest("default", "<unnamed>", None, "m.yaml: metadata.name is missing")],
            id="no-name",
        ),
        pytest.param(
            _yaml({**_doc(), "spec": None}),
            None,
            [Manifest("default", "orders-by-customer", None, "spec is missing")],
            id="no-spec",
        ),
        pytest.param(_yaml(CONFIG_MAP), None, [], id="nothing-to-plan"),
    ],
)
def test_load(text: str, namespace: str | None, expected: list[Manifest]) -> None:
    assert planning.load([("m.yaml", text)], namespace) == expected


@pytest.mark.parametrize(
    ("text", "namespace", "message"),
    [
        pytest.param("a: [b\n", None, "m.yaml: not valid YAML", id="bad-yaml"),
        pytest.param("- 1\n", None, "m.yaml: a document is not a mapping", id="not-a-mapping"),
        pytest.param(
            _yaml({**_doc(), "metadata": {"name": "x", "namespace": "own"}}),
            "app",
            "m.yaml: the namespace of own/x does not match -n app",
            id="namespace-mismatch",
        ),
    ],
)
def test_load_refuses(text: str, namespace: str | None, message: str) -> None:
    with pytest.raises(UsageError, match="^" + re.escape(message)):
        planning.load([("m.yaml", text)], namespace)


def test_read_sources_files_directories_and_stdin(tmp_path: Path) -> None:
    folder = tmp_path / "dir"
    folder.mkdir()
    for name in ("b.yml", "a.yaml", "notes.txt"):
        (folder / name).write_text(name)
    (folder / "sub.yaml").mkdir()  # not a file: not read
    single = tmp_path / "one.yaml"
    single.write_text("one")
    stdin = io.StringIO("from stdin")
    assert planning.read_sources([str(single), str(folder), "-"], stdin) == [
        (str(single), "one"),
        (str(folder / "a.yaml"), "a.yaml"),
        (str(folder / "b.yml"), "b.yml"),
        ("<stdin>", "from stdin"),
    ]
    with pytest.raises(UsageError, match=r"cannot read .*missing\.yaml"):
        planning.read_sources([str(tmp_path / "missing.yaml")], stdin)


# -- the history of a live object, a failed definition check ----------------------------------


def _live(spec: Mapping[str, Any], **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "orders-by-customer", "generation": 4},
        "spec": {**spec, "schema": "public", "deletionPolicy": "Retain"},  # defaults applied
        "status": status,
    }


@pytest.mark.parametrize(
    ("live", "expected"),
    [
        pytest.param(None, plan.History(), id="no-live-object"),
        pytest.param(
            _live(spec_dict(), phase="Ready", observedGeneration=4, managed=True),
            plan.History(managed=True, was_ready=True),
            id="ready-same-spec",
        ),
        pytest.param(
            _live(spec_dict(), phase="Ready", observedGeneration=3, managed=True),
            plan.History(managed=True),
            id="ready-at-an-older-generation",
        ),
        pytest.param(
            _live(spec_dict(columns=[{"column": "id"}]), phase="Ready", observedGeneration=4),
            plan.History(),
            id="ready-other-spec-is-no-drift",
        ),
        pytest.param(
            _live(spec_dict(), phase="Building", observedGeneration=4),
            plan.History(),
            id="building",
        ),
        pytest.param(
            _live({"table": "t"}, phase="Ready", observedGeneration=4, managed=True),
            plan.History(managed=True),
            id="live-spec-invalid",
        ),
    ],
)
def test_history_from_live(live: dict[str, Any] | None, expected: plan.History) -> None:
    assert planning.history_from_live(SPEC, live) == expected


def test_after_probe_failure() -> None:
    rejected = planning.after_probe_failure(
        SPEC, plan.History(managed=True), errors.BuildFailure("42704", "no such opclass")
    )
    assert rejected == plan.History(
        managed=True,
        definition_error=plan.Fail(
            "InvalidDefinition", "PostgreSQL rejects this definition: [42704] no such opclass"
        ),
    )
    assert plan.decide(SPEC, _index(), None, rejected) == rejected.definition_error
    interrupted = planning.after_probe_failure(
        SPEC, plan.History(), errors.BuildFailure("55P03", "lock timeout")
    )
    assert interrupted.retry_in == 10
    assert plan.decide(SPEC, _index(), None, interrupted) == plan.Wait(
        "Retrying",
        "BackingOff",
        "next attempt in 10s after: checking the definition failed: [55P03] lock timeout; "
        "retrying in 10s",
    )


def test_desired_signature() -> None:
    assert planning.desired_signature(SPEC) == SIGNATURE
    assert planning.desired_signature(index_spec(where="id > 1")) is None


# -- report rows ------------------------------------------------------------------------------

REPLACING = _index(signature={**SIGNATURE, "unique": True})
DIFFERENCE = "unique: want False, have True"


@pytest.mark.parametrize(
    ("state", "action", "managed", "expected"),
    [
        pytest.param(
            _state(),
            plan.Build(),
            False,
            ("build", "the index does not exist", [CREATE]),
            id="build",
        ),
        pytest.param(
            _state(),
            plan.Build(drift="the index had been dropped"),
            True,
            ("build", "drift: the index had been dropped", [CREATE]),
            id="build-after-drift",
        ),
        pytest.param(
            _index(),
            plan.Ready(adopted=True),
            False,
            ("adopt", "a valid index with the declared definition exists", []),
            id="adopt",
        ),
        pytest.param(
            _index(),
            plan.Ready(adopted=True),
            True,
            ("nothing", "Ready: the index matches the spec", []),
            id="nothing-managed",
        ),
        pytest.param(
            _index(),
            plan.Ready(adopted=False),
            False,
            ("nothing", "Ready: the index matches the spec", []),
            id="nothing-built-here",
        ),
        pytest.param(
            REPLACING,
            plan.BuildReplacement((DIFFERENCE,)),
            True,
            (
                "replace",
                f"BuildReplacement: {DIFFERENCE}",
                [CREATE.replace("orders_by_customer ON", f"{NEW} ON"), *SWAP],
            ),
            id="replace-build",
        ),
        pytest.param(
            REPLACING,
            plan.BuildReplacement((DIFFERENCE,), drift="the definition had been changed by hand"),
            True,
            (
                "replace",
                f"BuildReplacement: {DIFFERENCE}, drift: the definition had been changed by hand",
                [CREATE.replace("orders_by_customer ON", f"{NEW} ON"), *SWAP],
            ),
            id="replace-build-after-drift",
        ),
        pytest.param(REPLACING, plan.Swap(), True, ("replace", "Swap", SWAP), id="replace-swap"),
        pytest.param(
            REPLACING,
            plan.DropRetired(),
            True,
            ("replace", "DropRetired", [f"DROP INDEX CONCURRENTLY IF EXISTS public.{OLD}"]),
            id="replace-drop-retired",
        ),
        pytest.param(
            REPLACING,
            plan.DropReplacement(),
            True,
            ("replace", "DropReplacement", [f"DROP INDEX CONCURRENTLY IF EXISTS public.{NEW}"]),
            id="replace-drop-replacement",
        ),
        pytest.param(
            _index(valid=False),
            plan.DropLeftover(),
            False,
            (
                "drop invalid leftover",
                "an INVALID index nobody builds",
                ["DROP INDEX CONCURRENTLY IF EXISTS public.orders_by_customer"],
            ),
            id="drop-leftover",
        ),
        pytest.param(
            catalog.IndexState(),
            plan.Wait("Waiting", "TableNotFound", "table public.orders does not exist (yet)"),
            False,
            ("wait", "TableNotFound: table public.orders does not exist (yet)", []),
            id="wait",
        ),
        pytest.param(
            _index(valid=False),
            plan.WatchForeignBuild(catalog.Progress(pid=77, index_relid=900)),
            False,
            ("wait", "BuildInProgressElsewhere: backend 77 is building this index", []),
            id="watch-foreign-build",
        ),
        pytest.param(
            REPLACING,
            plan.Fail("DefinitionMismatch", "it differs"),
            False,
            ("fail", "DefinitionMismatch: it differs", []),
            id="fail",
        ),
    ],
)
def test_row(
    state: catalog.IndexState,
    action: plan.Action,
    managed: bool,
    expected: tuple[str, str, list[str]],
) -> None:
    word, detail, statements = expected
    assert planning.row(MANIFEST, state, action, managed=managed) == Row(
        "app", "orders-by-customer", "public.orders_by_customer", word, detail, tuple(statements)
    )


def test_row_of_a_paused_decision_shows_what_would_run() -> None:
    spec = index_spec(paused=True)
    decided = plan.decide(spec, _state(), SIGNATURE, plan.History())
    assert decided == plan.Paused(plan.Build(), (CREATE,))
    assert planning.row(Manifest("app", "x", spec), _state(), decided) == Row(
        "app",
        "x",
        "public.orders_by_customer",
        "build",
        "the index does not exist",
        (CREATE,),
        paused=True,
    )


def test_error_row() -> None:
    assert planning.error_row(MANIFEST, planning.CONNECTION, "down") == Row(
        "app",
        "orders-by-customer",
        "public.orders_by_customer",
        "error",
        "down",
        (),
        False,
        "connection",
    )
    invalid = Manifest("app", "bad", None, "nope")
    assert planning.error_row(invalid, planning.INVALID, "nope").index == ""


# -- exit codes -------------------------------------------------------------------------------

NOTHING = Row("app", "a", "public.a", "nothing", "")
ADOPT = Row("app", "a", "public.a", "adopt", "")
FAIL = Row("app", "a", "public.a", "fail", "")
BUILD = Row("app", "b", "public.b", "build", "", (CREATE,))
PAUSED = Row("app", "b", "public.b", "build", "", (CREATE,), paused=True)
INVALID = Row("app", "c", "", "error", "bad", problem="invalid")
DOWN = Row("app", "d", "public.d", "error", "down", problem="connection")


@pytest.mark.parametrize(
    ("rows", "code"),
    [
        pytest.param([], 0, id="empty"),
        pytest.param([NOTHING, ADOPT], 0, id="nothing-and-adopt"),
        pytest.param([FAIL], 0, id="fail-runs-no-sql"),
        pytest.param([NOTHING, BUILD], 3, id="sql"),
        pytest.param([PAUSED], 3, id="paused-sql"),
        pytest.param([BUILD, INVALID], 2, id="invalid-wins-over-sql"),
        pytest.param([INVALID, BUILD, DOWN], 1, id="connection-wins-over-all"),
    ],
)
def test_exit_code(rows: list[Row], code: int) -> None:
    assert planning.exit_code(rows) == code


# -- rendering --------------------------------------------------------------------------------

ROWS = [
    Row("app", "orders-by-customer", "public.orders_by_customer", "build", "", (CREATE,)),
    Row("app", "paused-one", "public.p", "replace", "Swap", ("BEGIN", "COMMIT"), paused=True),
    Row("default", "bad", "", "error", "columns[0].column is required", problem="invalid"),
]


def test_render_table() -> None:
    assert planning.render(ROWS, "table") == textwrap.dedent(
        f"""\
        NAMESPACE/NAME           INDEX                       ACTION             DETAIL
        app/orders-by-customer   public.orders_by_customer   build
            {CREATE};
        app/paused-one           public.p                    replace (paused)   Swap
            BEGIN;
            COMMIT;
        default/bad              -                           error              columns[0].column is required
        """  # noqa: E501
    )


def test_render_table_without_rows() -> None:
    assert planning.render([], "table") == "NAMESPACE/NAME   INDEX   ACTION   DETAIL\n"


EXPECTED_OBJECTS = [
    {
        "namespace": "app",
        "name": "orders-by-customer",
        "index": "public.orders_by_customer",
        "action": "build",
        "detail": "",
        "statements": [CREATE],
        "paused": False,
    },
    {
        "namespace": "app",
        "name": "paused-one",
        "index": "public.p",
        "action": "replace",
        "detail": "Swap",
        "statements": ["BEGIN", "COMMIT"],
        "paused": True,
    },
    {
        "namespace": "default",
        "name": "bad",
        "index": "",
        "action": "error",
        "detail": "columns[0].column is required",
        "statements": [],
        "paused": False,
    },
]


@pytest.mark.parametrize(
    ("output", "parse"),
    [pytest.param("json", json.loads, id="json"), pytest.param("yaml", yaml.safe_load, id="yaml")],
)
def test_render_structured(output: str, parse: Any) -> None:
    text = planning.render(ROWS, output)
    assert parse(text) == EXPECTED_OBJECTS
    assert text.endswith("\n")


# -- the command, where no database is needed ------------------------------------------------


def _run(tmp_path: Path, text: str, *args: str) -> tuple[int, str, str]:
    manifest = tmp_path / "m.yaml"
    manifest.write_text(text)
    stdout, stderr = io.StringIO(), io.StringIO()
    code = planning_live.run(
        [str(manifest)],
        dsn=args[0] if args else None,
        from_cluster=not args,
        namespace=None,
        output="json",
        stdin=io.StringIO(),
        stdout=stdout,
        stderr=stderr,
    )
    return code, stdout.getvalue(), stderr.getvalue()


def test_only_invalid_manifests_need_no_database(tmp_path: Path) -> None:
    code, out, err = _run(tmp_path, _yaml(_doc(method="nope")), "postgresql://u:pw@127.0.0.1:1/x")
    assert code == 2
    assert [r["action"] for r in json.loads(out)] == ["error"]
    assert "method must be one of" in err


@pytest.mark.parametrize(
    ("text", "dsn", "message"),
    [
        pytest.param(
            _yaml(CONFIG_MAP), "postgresql://h/x", "no DatabaseIndex manifests in ", id="none"
        ),
        pytest.param(
            _yaml(_doc()),
            "mysql://user:secret@h/x",
            "--dsn: key 'dsn' must hold a postgresql:// URI (got scheme 'mysql')",
            id="not-a-postgresql-uri",
        ),
    ],
)
def test_usage_problems_exit_1(tmp_path: Path, text: str, dsn: str, message: str) -> None:
    code, out, err = _run(tmp_path, text, dsn)
    assert (code, out) == (1, "")
    assert message in err
    assert "secret" not in err


class FakeCluster:
    def __init__(self, secrets: Mapping[tuple[str, str], dict[str, str]]) -> None:
        self.secrets = secrets
        self.reads: list[tuple[str, str]] = []

    async def read_secret(self, namespace: str, name: str) -> dict[str, str]:
        self.reads.append((namespace, name))
        if (namespace, name) not in self.secrets:
            raise errors.SecretNotFound(f"Secret {namespace}/{name} does not exist")
        return self.secrets[namespace, name]

    async def read_object(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        return None


def test_secret_problems_are_rows_and_each_secret_is_read_once() -> None:
    cluster = FakeCluster({("app", "nodsn"): {"user": "postgres"}})
    manifests = [
        Manifest("app", "a", SPEC),
        Manifest("app", "b", index_spec("b")),
        Manifest("app", "c", index_spec("c", connection={"secretRef": {"name": "nodsn"}})),
        Manifest("app", "d", None, "invalid"),
    ]
    rows = asyncio.run(planning_live.plan_manifests(manifests, params=None, cluster=cluster))
    assert [(r.name, r.action, r.detail, r.problem) for r in rows] == [
        ("a", "error", "Secret app/db does not exist", "connection"),
        ("b", "error", "Secret app/db does not exist", "connection"),
        (
            "c",
            "error",
            "Secret app/nodsn: the Secret has neither a 'dsn' key nor discrete keys "
            "(host, port, dbname, ...)",
            "connection",
        ),
        ("d", "error", "invalid", "invalid"),
    ]
    assert cluster.reads == [("app", "db"), ("app", "nodsn")]
    assert planning.exit_code(rows) == 1


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["plan", "-f", "m.yaml"], id="no-connection"),
        pytest.param(["plan", "-f", "m.yaml", "--dsn", "x", "--from-cluster"], id="both"),
        pytest.param(["plan", "--dsn", "x"], id="no-file"),
        pytest.param(["plan", "-f", "m.yaml", "--dsn", "x", "-o", "xml"], id="bad-output"),
    ],
)
def test_cli_usage_errors_exit_1(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(argv)
    assert exited.value.code == 1


def test_cli_help_documents_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["plan", "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    assert "Exit codes:" in text
    for code in ("0  no manifest", "3  at least one", "2  a manifest is invalid", "1  a usage"):
        assert code in text


def test_cli_import_usage_errors_keep_exit_2() -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["import"])
    assert exited.value.code == 2
