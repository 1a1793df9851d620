"""The DatabaseIndex CRD, checked against a real API server.

The CRD is the API's contract: these tests prove that the server accepts what the operator
expects, applies the documented defaults, rejects bad specs with messages a user can act on,
and serves the status subresource and printer columns. The checks that read the YAML file itself
(descriptions everywhere, bounded strings and arrays) are in tests/unit/test_crd.py.

The status tests write status themselves, so no operator may reconcile DatabaseIndex objects in
the test's namespace while they run: ``namespace`` here is one the suite's operator does not
watch.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import new_namespace
from tests.unit.test_crd import load_full_example

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("crd")]

ROOT = Path(__file__).resolve().parents[2]
CRD_FILE = ROOT / "crds" / "databaseindexes.dbindex.dev.yaml"

CRD_NAME = "databaseindexes.dbindex.dev"
COLUMN_HEADERS = ["NAME", "TABLE", "INDEX", "PHASE", "PROGRESS", "READY", "ATTEMPTS", "AGE"]

Kubectl = Callable[..., Any]
Json = dict[str, Any]

EXACTLY_ONE_OF = (
    "spec.columns[0]: Invalid value: each column entry needs exactly one of column or expression"
)
NAME_IMMUTABLE = "spec.name: Invalid value: spec.name is immutable"

DROP = object()
"""A spec value that means: leave this field out."""


def rejection(stderr: str) -> str:
    """kubectl's error text as Kubernetes 1.36 words it: 1.34 prints an object-level CEL rule's
    rejected value as `"object": ` before the message (tests/e2e runs on 1.34-1.37)."""
    return stderr.replace('Invalid value: "object": ', "Invalid value: ")


def manifest(metadata_name: str = "orders-created-at", **spec_changes: Any) -> Json:
    """A minimal valid DatabaseIndex, with some spec fields replaced (or dropped with DROP)."""
    spec: Json = {
        "connection": {"secretRef": {"name": "orders-db"}},
        "table": "orders",
        "columns": [{"column": "created_at"}],
    }
    for field, value in spec_changes.items():
        if value is DROP:
            spec.pop(field, None)
        else:
            spec[field] = value
    return {
        "apiVersion": "dbindex.dev/v1alpha1",
        "kind": "DatabaseIndex",
        "metadata": {"name": metadata_name},
        "spec": spec,
    }


def create(kubectl: Kubectl, namespace: str, obj: Json, *flags: str, check: bool = True) -> Any:
    return kubectl("create", "-n", namespace, *flags, "-f", "-", input=json.dumps(obj), check=check)


def get_json(kubectl: Kubectl, namespace: str, name: str) -> Json:
    result = kubectl("get", "databaseindex", name, "-n", namespace, "-o", "json")
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def table_rows(output: str) -> list[dict[str, str]]:
    """Parse `kubectl get` table output; no cell in these tests contains a space."""
    header, *rows = output.strip().splitlines()
    names = header.split()
    return [dict(zip(names, row.split(), strict=True)) for row in rows]


def words(text: str) -> str:
    """Collapse whitespace, so phrases that `kubectl explain` wrapped across lines still match."""
    return " ".join(text.split())


@pytest.fixture
def namespace(kubectl: Kubectl) -> Iterator[str]:
    """A fresh namespace that no operator of the suite watches (tests/e2e/conftest.py's
    ``namespace`` is watched by the session's operator, which would write status here)."""
    with new_namespace(kubectl, "t-") as name:
        yield name


# --- Registration, names, columns, explain ---------------------------------------------------


def test_crd_is_established_with_its_names(kubectl: Kubectl) -> None:
    found = json.loads(kubectl("get", "crd", CRD_NAME, "-o", "json").stdout)
    conditions = {c["type"]: c["status"] for c in found["status"]["conditions"]}
    assert conditions["Established"] == "True"
    assert conditions["NamesAccepted"] == "True"
    accepted = found["status"]["acceptedNames"]
    assert accepted["kind"] == "DatabaseIndex"
    assert accepted["listKind"] == "DatabaseIndexList"
    assert accepted["singular"] == "databaseindex"
    assert accepted["shortNames"] == ["dbindex", "dbidx"]
    assert accepted["categories"] == ["dbindex"]


def test_crd_applies_without_warnings(kubectl: Kubectl) -> None:
    # The way users apply it (and the `crd` fixture installed it): CEL cost estimates, unknown
    # fields and deprecations would all show up as warnings here.
    result = kubectl("apply", "--dry-run=server", "-f", str(CRD_FILE))
    warnings = [line for line in result.stderr.splitlines() if line.startswith("Warning:")]
    assert warnings == []


@pytest.mark.parametrize(
    "resource",
    [
        pytest.param("dbindex", id="short-name-dbindex"),
        pytest.param("dbidx", id="short-name-dbidx"),
        pytest.param("databaseindex", id="singular"),
        pytest.param("databaseindexes.dbindex.dev", id="fully-qualified"),
    ],
)
def test_get_prints_the_printer_columns(kubectl: Kubectl, namespace: str, resource: str) -> None:
    create(kubectl, namespace, manifest())
    output = kubectl("get", resource, "-n", namespace).stdout
    header = output.splitlines()[0].split()
    assert header == COLUMN_HEADERS
    assert "orders-created-at" in output


@pytest.mark.parametrize(
    ("field", "phrases"),
    [
        pytest.param(
            "databaseindex.spec.columns",
            [
                "The key columns of the index",
                "exactly one of column or expression",
                "COLLATE collation",
                "NULLS FIRST",
                "text_pattern_ops",
                "lower(email)",
            ],
            id="spec.columns",
        ),
        pytest.param(
            "databaseindex.spec",
            ["CREATE [UNIQUE] INDEX CONCURRENTLY", "USING method", "INCLUDE (column, ...)"],
            id="spec",
        ),
        pytest.param(
            "databaseindex.spec.build",
            ["lock_timeout", "Defaults to 1min", "max_parallel_maintenance_workers"],
            id="spec.build",
        ),
        pytest.param(
            "databaseindex.status.progress",
            ["pg_stat_progress_create_index", "never decreases"],
            id="status.progress",
        ),
    ],
)
def test_explain_teaches_the_api(kubectl: Kubectl, field: str, phrases: list[str]) -> None:
    output = words(kubectl("explain", field).stdout)
    for phrase in phrases:
        assert phrase in output


# --- Validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "obj",
    [
        pytest.param(manifest(), id="minimal"),
        pytest.param(manifest(name="i" * 63), id="name-63-bytes"),
        pytest.param(manifest(name="é" * 31 + "i"), id="name-32-chars-63-bytes"),
        pytest.param(manifest(metadata_name="o" * 64, name="orders_o"), id="long-metadata-name"),
        pytest.param(manifest(method="gist", include=["id"]), id="include-with-gist"),
        pytest.param(manifest(method="gin", include=[]), id="empty-include-with-gin"),
        pytest.param(manifest(unique=True, nullsNotDistinct=True), id="unique-nulls-not-distinct"),
        pytest.param(manifest(columns=[{"column": f"c{i}"} for i in range(32)]), id="32-columns"),
        pytest.param(
            manifest(columns=[{"column": f"c{i}"} for i in range(30)], include=["id", "email"]),
            id="32-keys-and-includes",
        ),
        pytest.param(
            manifest(build={"lockTimeout": "0", "statementTimeout": "1d"}), id="durations"
        ),
        pytest.param(manifest(build={"maintenanceWorkMem": "65536"}), id="memory-in-kb"),
        pytest.param(
            manifest(retry={"initialBackoffSeconds": 30, "maxBackoffSeconds": 30}),
            id="equal-backoffs",
        ),
    ],
)
def test_valid_spec_is_accepted(kubectl: Kubectl, namespace: str, obj: Json) -> None:
    """Controls for the rejections below: each limit is checked from the inside, too."""
    create(kubectl, namespace, obj, "--dry-run=server")


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        pytest.param(
            manifest(method="bitmap"),
            'spec.method: Unsupported value: "bitmap"',
            id="unknown-method",
        ),
        pytest.param(
            manifest(name="i" * 64),
            "spec.name: Too long: may not be more than 63",
            id="name-64-bytes",
        ),
        pytest.param(
            manifest(name="i" * 62 + "é"),  # 63 characters, 64 bytes in UTF-8
            "spec.name must be at most 63 bytes long in UTF-8",
            id="name-63-chars-64-bytes",
        ),
        pytest.param(
            manifest(metadata_name="o" * 64),
            "metadata.name: Invalid value: metadata.name is longer than 63 characters",
            id="long-metadata-name-without-spec-name",
        ),
        pytest.param(
            manifest(columns=[{"column": "email", "expression": "lower(email)"}]),
            EXACTLY_ONE_OF,
            id="column-and-expression",
        ),
        pytest.param(
            manifest(columns=[{"order": "Desc"}]),
            EXACTLY_ONE_OF,
            id="neither-column-nor-expression",
        ),
        pytest.param(
            manifest(columns=[]),
            "spec.columns: Invalid value: 0: spec.columns in body should have at least 1 items",
            id="empty-columns",
        ),
        pytest.param(
            manifest(columns=DROP),
            "spec.columns: Required value",
            id="missing-columns",
        ),
        pytest.param(
            manifest(columns=[{"column": f"c{i}"} for i in range(33)]),
            "spec.columns: Too many: 33: must have at most 32 items",
            id="too-many-columns",
        ),
        pytest.param(
            manifest(
                columns=[{"column": f"c{i}"} for i in range(30)],
                include=["id", "tenant_id", "email"],
            ),
            "spec.include: Invalid value: columns and include together may name at most 32 columns",
            id="more-than-32-keys-and-includes",
        ),
        pytest.param(
            manifest(columns=[{"column": "created_at", "order": "descending"}]),
            'spec.columns[0].order: Unsupported value: "descending"',
            id="bad-order",
        ),
        pytest.param(
            manifest(method="gin", include=["id"]),
            "spec.include: Invalid value: include is supported only by btree, gist and spgist",
            id="include-with-gin",
        ),
        pytest.param(
            manifest(method="gin", unique=True),
            "spec.unique: Invalid value: unique indexes are supported only by btree",
            id="unique-with-gin",
        ),
        pytest.param(
            manifest(nullsNotDistinct=True),
            "spec.nullsNotDistinct: Invalid value: nullsNotDistinct requires unique to be true",
            id="nulls-not-distinct-without-unique",
        ),
        pytest.param(
            manifest(build={"lockTimeout": "30 seconds"}),
            "spec.build.lockTimeout in body should match",
            id="bad-lock-timeout",
        ),
        pytest.param(
            manifest(build={"maintenanceWorkMem": "1gb"}),
            "spec.build.maintenanceWorkMem in body should match",
            id="bad-maintenance-work-mem-unit",
        ),
        pytest.param(
            manifest(build={"parallelWorkers": 65}),
            "spec.build.parallelWorkers: Invalid value: 65",
            id="too-many-parallel-workers",
        ),
        pytest.param(
            manifest(retry={"initialBackoffSeconds": 60, "maxBackoffSeconds": 30}),
            "spec.retry.maxBackoffSeconds: Invalid value: "
            "retry.maxBackoffSeconds must be greater than or equal to retry.initialBackoffSeconds",
            id="max-backoff-below-initial",
        ),
        pytest.param(
            manifest(storageParameters={"fillfactor = 50) --": "1"}),
            "spec.storageParameters: Invalid value: "
            "storageParameters keys must be PostgreSQL storage parameter names",
            id="bad-storage-parameter-name",
        ),
        pytest.param(
            manifest(deletionPolicy="Orphan"),
            'spec.deletionPolicy: Unsupported value: "Orphan"',
            id="unknown-deletion-policy",
        ),
    ],
)
def test_invalid_spec_is_rejected(
    kubectl: Kubectl, namespace: str, obj: Json, message: str
) -> None:
    result = create(kubectl, namespace, obj, "--dry-run=server", check=False)
    assert result.returncode != 0
    assert message in rejection(result.stderr)


@pytest.mark.parametrize(
    ("before", "after", "message"),
    [
        pytest.param({}, {"table": "customers"}, "spec.table is immutable", id="table-changed"),
        pytest.param({}, {"schema": "app"}, "spec.schema is immutable", id="schema-changed"),
        pytest.param({"name": "orders_a"}, {"name": "orders_b"}, NAME_IMMUTABLE, id="name-changed"),
        pytest.param({}, {"name": "orders_b"}, NAME_IMMUTABLE, id="name-added"),
        pytest.param({"name": "orders_a"}, {"name": DROP}, NAME_IMMUTABLE, id="name-removed"),
        pytest.param({}, {}, None, id="unchanged"),
        pytest.param({}, {"schema": "public"}, None, id="schema-set-to-its-default"),
        pytest.param(
            {"name": "orders_a"},
            {
                "name": "orders_a",
                "columns": [{"column": "created_at", "order": "Desc"}],
                "where": "deleted_at IS NULL",
                "deletionPolicy": "Delete",
                "retry": {"maxAttempts": 3},
            },
            None,
            id="mutable-fields-changed",
        ),
    ],
)
def test_immutable_fields(
    kubectl: Kubectl,
    namespace: str,
    before: Json,
    after: Json,
    message: str | None,
) -> None:
    create(kubectl, namespace, manifest(**before))
    result = kubectl(
        "replace",
        "--dry-run=server",
        "-n",
        namespace,
        "-f",
        "-",
        input=json.dumps(manifest(**after)),
        check=False,
    )
    if message is None:
        assert result.returncode == 0, result.stderr
    else:
        assert result.returncode != 0
        assert message in rejection(result.stderr)


# --- Round trips and defaults ----------------------------------------------------------------


def test_full_example_round_trips_unchanged(kubectl: Kubectl, namespace: str) -> None:
    example = load_full_example()
    create(kubectl, namespace, example)
    stored = get_json(kubectl, namespace, example["metadata"]["name"])
    assert stored["spec"] == example["spec"]


def test_minimal_manifest_gets_defaults(kubectl: Kubectl, namespace: str) -> None:
    create(kubectl, namespace, manifest())
    spec = get_json(kubectl, namespace, "orders-created-at")["spec"]
    assert spec["schema"] == "public"
    assert spec["method"] == "btree"
    assert spec["deletionPolicy"] == "Retain"
    assert spec["unique"] is False
    # The operator's model owns these defaults; the CRD must not write them into the object.
    assert "name" not in spec
    assert "key" not in spec["connection"]["secretRef"]
    assert "build" not in spec
    assert "retry" not in spec
    assert "nullsNotDistinct" not in spec


# --- Status subresource ----------------------------------------------------------------------

FULL_STATUS: Json = {
    "observedGeneration": 1,
    "phase": "Building",
    "attempts": 2,
    "retryToken": "after-vacuum",
    "startedAt": "2025-01-02T03:04:05Z",
    "completedAt": "2025-01-01T00:00:00Z",
    "lastError": {
        "sqlstate": "55P03",
        "message": "canceling statement due to lock timeout",
        "time": "2025-01-02T03:00:00Z",
    },
    "index": {
        "schema": "public",
        "name": "orders_created_at",
        "definition": "CREATE INDEX orders_created_at ON public.orders USING btree (created_at)",
        "valid": False,
        "tablespace": "",
    },
    "progress": {
        "phase": "building index: scanning table",
        "percent": 42,
        "blocksDone": 4200,
        "blocksTotal": 10000,
        "tuplesDone": 0,
        "tuplesTotal": 0,
        "lockersDone": 1,
        "lockersTotal": 3,
        "currentLockerPid": 4242,
        "blockingPids": [4242, 4343],
        "updatedAt": "2025-01-02T03:05:00Z",
    },
    "conditions": [
        {
            "type": "Ready",
            "status": "False",
            "reason": "Building",
            "message": "CREATE INDEX CONCURRENTLY is running",
            "lastTransitionTime": "2025-01-02T03:04:05Z",
            "observedGeneration": 1,
        },
        {
            "type": "Progressing",
            "status": "True",
            "reason": "Building",
            "message": "building index: scanning table",
            "lastTransitionTime": "2025-01-02T03:04:05Z",
            "observedGeneration": 1,
        },
        {
            "type": "Degraded",
            "status": "True",
            "reason": "LockTimeout",
            "message": "attempt 1 failed: canceling statement due to lock timeout",
            "lastTransitionTime": "2025-01-02T03:00:00Z",
            "observedGeneration": 1,
        },
    ],
}


def patch(kubectl: Kubectl, namespace: str, body: Json, *flags: str, check: bool = True) -> Any:
    return kubectl(
        "patch",
        "databaseindex",
        "orders-created-at",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        json.dumps(body),
        *flags,
        check=check,
    )


def test_status_subresource_stores_every_field(kubectl: Kubectl, namespace: str) -> None:
    create(kubectl, namespace, manifest())
    # The patch response is the object as stored by this very write.
    result = patch(kubectl, namespace, {"status": FULL_STATUS}, "--subresource=status", "-o=json")
    stored = json.loads(result.stdout)
    assert stored["status"] == FULL_STATUS  # nothing pruned: every field is in the schema
    assert stored["metadata"]["generation"] == 1  # status writes do not bump the generation


def test_printer_columns_show_the_status(kubectl: Kubectl, namespace: str) -> None:
    create(kubectl, namespace, manifest())
    patch(kubectl, namespace, {"status": FULL_STATUS}, "--subresource=status")
    (row,) = table_rows(kubectl("get", "dbindex", "-n", namespace).stdout)
    assert row["NAME"] == "orders-created-at"
    assert row["TABLE"] == "orders"
    assert row["INDEX"] == "orders_created_at"
    assert row["PHASE"] == "Building"
    assert row["PROGRESS"] == "42"
    assert row["READY"] == "False"
    assert row["ATTEMPTS"] == "2"


def test_status_is_ignored_on_the_main_resource(kubectl: Kubectl, namespace: str) -> None:
    create(kubectl, namespace, manifest())
    result = patch(kubectl, namespace, {"status": FULL_STATUS})
    assert "(no change)" in result.stdout


@pytest.mark.parametrize(
    ("status", "message"),
    [
        pytest.param({"phase": "Done"}, 'status.phase: Unsupported value: "Done"', id="phase"),
        pytest.param(
            {"progress": {"percent": 101}},
            "status.progress.percent: Invalid value: 101: "
            "progress.percent in body should be less than or equal to 100",
            id="percent-over-100",
        ),
        pytest.param(
            {"conditions": [{"type": "Ready", "status": "Yes"}]},
            'status.conditions[0].status: Unsupported value: "Yes"',
            id="condition-status",
        ),
        pytest.param(
            {"conditions": [{"type": "Ready"}]},
            "status.conditions[0].status: Required value",
            id="condition-without-status",
        ),
        pytest.param(
            {"startedAt": "yesterday"},
            'status.startedAt: Invalid value: "yesterday": '
            "startedAt in body must be of type date-time",
            id="started-at-not-a-date-time",
        ),
    ],
)
def test_invalid_status_is_rejected(
    kubectl: Kubectl, namespace: str, status: Json, message: str
) -> None:
    create(kubectl, namespace, manifest())
    result = patch(kubectl, namespace, {"status": status}, "--subresource=status", check=False)
    assert result.returncode != 0
    assert message in rejection(result.stderr)
