"""`dbindex-operator import DIR` (issue #20, part 1): a directory of migrations read the way its
tool runs it, in version order, followed to the end state, every manifest annotated with its
source and migration. One fixture tree per tool under tests/fixtures/migrations/. Pure: no server.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import yaml

from dbindex_operator import cli
from dbindex_operator.tools import importing
from dbindex_operator.tools.importing import layouts

ROOT = Path(__file__).resolve().parents[2]
TREES = ROOT / "tests" / "fixtures" / "migrations"
OPTIONS: dict[str, Any] = {
    "namespace": None,
    "secret": "db",
    "key": None,
    "deletion_policy": "Retain",
}


def run(paths: list[str | Path], **overrides: Any) -> tuple[int, list[dict[str, Any]], list[str]]:
    out, err = io.StringIO(), io.StringIO()
    code = importing.run(
        [str(p) for p in paths],
        **{**OPTIONS, **overrides},
        stdin=io.StringIO(),
        stdout=out,
        stderr=err,
    )
    manifests = [m for m in yaml.safe_load_all(out.getvalue()) if m]
    return code, manifests, err.getvalue().splitlines()


def summary(manifest: dict[str, Any]) -> tuple[str | None, str, str, str, str]:
    """(schema, table, index name, source relative to the trees, migration) of a manifest."""
    spec, annotations = manifest["spec"], manifest["metadata"]["annotations"]
    source = str(Path(annotations["dbindex.dev/source"]).relative_to(TREES))
    return (
        spec.get("schema"),
        spec["table"],
        spec["name"],
        source,
        annotations["dbindex.dev/migration"],
    )


# Each tree's end state: what its migrations leave, in the order the indexes were created.
END_STATES = {
    "sqlx": (
        "sqlx migrations (NNN_name.sql file names): 3 in version order",
        [
            (None, "users", "users_email", "sqlx/1_users.sql:5", "1"),
            # Unnamed in 2_orders.sql (orders_user_id_idx), renamed by 10_tidy.sql, which runs
            # after 2 and so also drops users_created_at.
            (None, "orders", "orders_by_user", "sqlx/2_orders.sql:2", "2"),
        ],
    ),
    "flyway": (
        "flyway migrations (V<version>__<name>.sql file names): 6 in version order",
        [
            # accounts_email: dropped by sql/V1.2 (subdirectories are read).
            (None, "accounts", "accounts_region", "flyway/V1_1__regions.sql:1", "1.1"),
            # Renamed by sql/later/V10 (10 > 2).
            (None, "payments", "payments_by_account", "flyway/V2__payments.sql:2", "2"),
            # The repeatable runs last; U2 (undo) never runs.
            (None, "payments", "payments_amount", "flyway/R__reporting.sql:2", "R__reporting"),
        ],
    ),
    "golang-migrate": (
        "golang-migrate migrations (N_name.up.sql / .down.sql file names): 3 in version order",
        [
            # The .down.sql files (which drop these) are never read.
            (None, "events", "events_kind", "golang-migrate/1_init.up.sql:2", "1"),
            (None, "events", "events_at", "golang-migrate/2_at.up.sql:1", "2"),
            # scratch_a: its table is dropped in the same migration.
        ],
    ),
    "goose": (
        "goose migrations (-- +goose Up markers): 3 in version order",
        [
            # posts_author: dropped by 00010; posts_down_only is in a Down section.
            (None, "posts", "posts_published", "goose/00002_published.sql:10", "2"),
            (None, "posts", "posts_body", "goose/00010_search.sql:3", "10"),
        ],
    ),
    "dbmate": (
        "dbmate migrations (-- migrate:up markers): 3 in version order",
        [
            # The table is renamed later: both manifests name the new table (and the renamed
            # column, see below); tickets_priority goes with its column.
            (
                None,
                "support_tickets",
                "tickets_status",
                "dbmate/20240105120000_create_tickets.sql:3",
                "20240105120000",
            ),
            (
                None,
                "support_tickets",
                "tickets_open",
                "dbmate/20240210093000_open_tickets.sql:2",
                "20240210093000",
            ),
        ],
    ),
    "plain": (
        "plain migrations (numbered file names): 3 in version order",
        [
            # products_sku (created under SET search_path TO shop, public) is dropped by 10-tidy.
            ("shop", "products", "products_price", "plain/2-prices.sql:2", "2"),
        ],
    ),
}


@pytest.mark.parametrize("tool", sorted(END_STATES))
def test_each_tools_tree_imports_in_order_to_its_end_state(tool: str) -> None:
    recognised, expected = END_STATES[tool]
    code, manifests, notes = run([TREES / tool])
    assert code == importing.EXIT_OK, notes
    assert notes[0] == f"{TREES / tool}: {recognised}"
    assert [summary(m) for m in manifests] == expected
    assert not any(": error: " in note for note in notes)


@pytest.mark.parametrize("tool", sorted(END_STATES))
def test_forcing_the_recognised_tool_changes_nothing(tool: str) -> None:
    recognised, expected = END_STATES[tool]
    code, manifests, notes = run([TREES / tool], tool=tool)
    assert code == importing.EXIT_OK
    count = recognised.rsplit(": ", 1)[1]
    assert notes[0] == f"{TREES / tool}: {tool} migrations (--tool): {count}"
    assert [summary(m) for m in manifests] == expected


def test_renamed_columns_are_followed_into_keys_and_predicates() -> None:
    _, manifests, _ = run([TREES / "dbmate"])
    assert [(m["spec"]["columns"], m["spec"].get("where")) for m in manifests] == [
        ([{"column": "state"}], None),
        ([{"column": "opened_at"}], "state = 'open'"),
    ]


def test_the_end_state_is_noted() -> None:
    _, _, notes = run([TREES / "sqlx"])
    tidy, users, orders = (
        TREES / "sqlx" / f for f in ("10_tidy.sql", "1_users.sql", "2_orders.sql")
    )
    assert (
        f"{tidy}:2: index users_created_at (created at {users}:6) is dropped here:"
        " no manifest for it"
    ) in notes
    assert (
        f"{tidy}:3: index orders_user_id_idx (created at {orders}:2) is renamed to orders_by_user"
        " here: the manifest names orders_by_user"
    ) in notes


def test_the_source_annotations_follow_the_description() -> None:
    _, manifests, _ = run([TREES / "sqlx"])
    assert manifests[0]["metadata"] == {
        "name": "users-email",
        "annotations": {
            "dbindex.dev/description": "Log-in looks users up by e-mail.",
            "dbindex.dev/source": f"{TREES / 'sqlx' / '1_users.sql'}:5",
            "dbindex.dev/migration": "1",
        },
    }


def test_files_given_one_by_one_carry_no_source_annotations() -> None:
    code, manifests, _ = run([TREES / "sqlx" / "2_orders.sql"])
    assert code == 0
    assert "annotations" not in manifests[0]["metadata"]


def test_files_and_trees_are_read_in_the_order_given(tmp_path: Path) -> None:
    later = tmp_path / "later.sql"
    later.write_text("DROP INDEX events_kind;\n")
    code, manifests, _ = run([TREES / "golang-migrate", later])
    assert code == 0
    assert [m["spec"]["name"] for m in manifests] == ["events_at"]


def test_skipped_files_are_noted() -> None:
    _, _, notes = run([TREES / "plain"])
    assert f"{TREES / 'plain' / 'seed.sql'}: skipped: not a plain migration file name" in notes
    _, _, notes = run([TREES / "flyway"])
    assert f"{TREES / 'flyway' / 'U2__undo_payments.sql'}: skipped: an undo migration" in notes


def test_a_tool_forced_on_another_layout_skips_or_refuses(tmp_path: Path) -> None:
    code, manifests, notes = run([TREES / "plain"], tool="sqlx")
    assert (code, manifests) == (0, [])
    assert f"{TREES / 'plain' / '01-schema.sql'}: skipped: not a sqlx migration file name" in notes
    code, _, notes = run([TREES / "sqlx"], tool="goose")
    assert code == importing.EXIT_NOT_CONVERTED
    assert (
        f"{TREES / 'sqlx' / '1_users.sql'}: error: no up section (-- +goose Up): goose refuses"
        " this migration"
    ) in notes


def test_a_single_goose_file_is_read_up_to_its_down_section() -> None:
    path = TREES / "goose" / "00002_published.sql"
    code, manifests, notes = run([path])
    assert code == 0
    assert [m["spec"]["name"] for m in manifests] == ["posts_published"]
    assert notes[0] == f"{path}: goose migration: only its up section is read"


def test_a_markers_description_is_not_the_annotation(tmp_path: Path) -> None:
    (tmp_path / "1_a.sql").write_text("-- migrate:up\nCREATE INDEX i ON t (a);\n-- migrate:down\n")
    _, manifests, _ = run([tmp_path])
    assert "dbindex.dev/description" not in manifests[0]["metadata"]["annotations"]


def test_an_empty_tree_is_noted_once(tmp_path: Path) -> None:
    (tmp_path / "1_a.sql").write_text("CREATE TABLE t (a int);\n")
    (tmp_path / "2_b.sql").write_text("SELECT 1;\n")
    code, manifests, notes = run([tmp_path])
    assert (code, manifests) == (0, [])
    assert notes[-1] == f"{tmp_path}: no CREATE INDEX statements found"
    assert sum("no CREATE INDEX" in n for n in notes) == 1


@pytest.mark.parametrize(
    ("files", "message"),
    [
        pytest.param(
            ["1_a.sql", "001_b.sql"], "two sqlx migrations of version 1", id="sqlx-same-number"
        ),
        pytest.param(
            ["V1__a.sql", "V1.0__b.sql"],
            "two flyway migrations of version 1.0",
            id="flyway-1.0-is-1",
        ),
        pytest.param(
            ["3_a.up.sql", "3_b.up.sql"], "two golang-migrate migrations of version 3", id="migrate"
        ),
    ],
)
def test_two_migrations_of_one_version_are_refused(
    files: list[str], message: str, tmp_path: Path
) -> None:
    for name in files:
        (tmp_path / name).write_text("CREATE INDEX i ON t (a);\n")
    code, manifests, notes = run([tmp_path])
    assert (code, manifests) == (importing.EXIT_USAGE, [])
    assert len(notes) == 1
    assert notes[0].startswith(f"{tmp_path}: error: {message}: ")


def test_plain_numbers_may_repeat(tmp_path: Path) -> None:
    (tmp_path / "1-b.sql").write_text("CREATE INDEX b ON t (a);\n")
    (tmp_path / "01-a.sql").write_text("CREATE INDEX a ON t (a);\n")
    code, manifests, _ = run([tmp_path])
    assert code == 0
    assert [m["spec"]["name"] for m in manifests] == ["a", "b"]  # the file name breaks the tie


def test_a_tree_file_that_is_not_utf8_is_unreadable(tmp_path: Path) -> None:
    (tmp_path / "1_a.sql").write_bytes(b"CREATE INDEX \xff ON t (a);\n")
    code, manifests, notes = run([tmp_path])
    assert (code, manifests) == (importing.EXIT_USAGE, [])
    assert notes[0].startswith(f"{tmp_path}: error: cannot read {tmp_path / '1_a.sql'}: ")


def test_an_unknown_tool_is_a_usage_error() -> None:
    code, _, notes = run([TREES / "sqlx"], tool="liquibase")
    assert code == importing.EXIT_USAGE
    assert notes == [
        "error: tool 'liquibase' is not one of sqlx, flyway, golang-migrate, goose, dbmate, plain"
    ]


@pytest.mark.parametrize(
    ("files", "tool"),
    [
        (["1_a.sql", "2_b.sql"], "sqlx"),
        (["1_a.up.sql", "1_a.down.sql"], "golang-migrate"),
        (["1_a.up.sql", "1_a.down.sql", "2_b.sql"], "sqlx"),
        (["V1__a.sql"], "flyway"),
        (["R__a.sql", "1_b.sql"], "flyway"),
        (["01-a.sql", "2_b.sql"], "plain"),
        (["a.sql"], "plain"),
    ],
)
def test_layouts_are_recognised_by_file_names(files: list[str], tool: str, tmp_path: Path) -> None:
    for name in files:
        (tmp_path / name).write_text("SELECT 1;\n")
    assert layouts.read_tree(str(tmp_path), None).tool == tool


@pytest.mark.parametrize(
    ("marker", "tool"),
    [("-- +goose Up", "goose"), ("--  +GOOSE UP", "goose"), ("-- migrate:up", "dbmate")],
)
def test_layouts_are_recognised_by_markers(marker: str, tool: str, tmp_path: Path) -> None:
    (tmp_path / "1_a.sql").write_text(f"{marker}\nSELECT 1;\n")
    (tmp_path / "2_b.sql").write_text("SELECT 1;\n")
    assert layouts.read_tree(str(tmp_path), None).tool == tool


def test_flyway_versions_compare_as_numbers(tmp_path: Path) -> None:
    for name in [
        "V10__j.sql",
        "V2__i.sql",
        "V1_10__h.sql",
        "V1.2__g.sql",
        "V1_1__f.sql",
        "V1__e.sql",
    ]:
        (tmp_path / name).write_text("SELECT 1;\n")
    (tmp_path / "R__b.sql").write_text("SELECT 1;\n")
    (tmp_path / "R__a.sql").write_text("SELECT 1;\n")
    tree = layouts.read_tree(str(tmp_path), None)
    assert [m.version for m in tree.migrations] == [
        "1",
        "1.1",
        "1.2",
        "1.10",
        "2",
        "10",
        "R__a",
        "R__b",
    ]


def test_cli_passes_tool_and_require_names(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["import", "--tool", "sqlx", "--require-names", str(TREES / "sqlx")]) == 1
    captured = capsys.readouterr()
    assert "error: the index has no name: a DatabaseIndex needs an explicit name" in captured.err
    assert "name: users_email" in captured.out
