"""The Argo CD health check (deploy/argocd/health.lua) under a real Lua 5.1 runtime.

Argo CD runs health scripts in gopher-lua (Lua 5.1) with only the base, table, package and a safe
``os`` library, so the runtime here has ``string``, ``math``, ``io``, ``debug`` and ``coroutine``
removed: a script that calls ``("x"):len()`` or ``string.format`` fails here as it would in Argo.
The object is handed over as the global ``obj``, converted the way Argo converts JSON (objects
and arrays become tables, arrays 1-based), and the script's return value is read as Argo reads it.

tests/e2e/test_argocd_health.py merges the argocd-cm entry into a ConfigMap on the API server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lupa.lua51
import pytest
import yaml

from dbindex_operator.core import status

ROOT = Path(__file__).resolve().parents[2]
HEALTH_LUA = ROOT / "deploy" / "argocd" / "health.lua"
ARGOCD_CM = ROOT / "deploy" / "argocd" / "argocd-cm.yaml"
CRD_FILE = ROOT / "crds" / "databaseindexes.dbindex.dev.yaml"
FIXTURES = ROOT / "tests" / "fixtures" / "argocd"
CM_KEY = "resource.customizations.health.dbindex.dev_DatabaseIndex"

REMOVED_LIBRARIES = ("string", "math", "io", "debug", "coroutine")
"""Not opened by Argo CD unless ``resource.customizations.useOpenLibs`` is set (``os`` is
replaced by a safe subset; the script does not use it either)."""


def to_lua(lua: Any, value: Any) -> Any:
    """Python data (from YAML/JSON) -> Lua values, as Argo CD's decodeValue does."""
    if isinstance(value, dict):
        return lua.table_from({key: to_lua(lua, item) for key, item in value.items()})
    if isinstance(value, list):
        return lua.table_from([to_lua(lua, item) for item in value])
    return value


def run_health(script: str, obj: dict[str, Any] | None) -> dict[str, str]:
    """Run ``script`` on ``obj`` in a fresh Lua 5.1 state without the string library."""
    lua = lupa.lua51.LuaRuntime(register_eval=False, register_builtins=False)
    assert lua.lua_version == (5, 1)
    # Without the string library gopher-lua gives strings no metatable, so ("x"):upper() fails
    # too; in C Lua the metatable survives `string = nil` and must be removed explicitly.
    lua.execute('debug.setmetatable("", nil)')
    lua_globals = lua.globals()
    for name in REMOVED_LIBRARIES:
        lua_globals[name] = None
    lua_globals.obj = None if obj is None else to_lua(lua, obj)
    result = lua.execute(script)
    assert lupa.lua51.lua_type(result) == "table", f"the script returned {result!r}"
    returned = dict(result.items())
    assert set(returned) == {"status", "message"}, returned
    return {"status": returned["status"], "message": returned["message"]}


def fixture(name: str) -> dict[str, Any]:
    data = yaml.safe_load((FIXTURES / f"{name}.yaml").read_text())
    assert isinstance(data, dict)
    return data


CASES = [
    pytest.param("no-status", "Progressing", "Waiting for the operator", id="no-status"),
    pytest.param("empty-status", "Progressing", "Waiting for the operator", id="empty-status"),
    pytest.param(
        "observed-generation-missing",
        "Progressing",
        "Waiting for the operator",
        id="observed-generation-missing",
    ),
    pytest.param(
        "generation-behind", "Progressing", "Waiting for the operator", id="generation-behind"
    ),
    pytest.param("deleting", "Progressing", "Deleting", id="deleting"),
    pytest.param("no-conditions", "Progressing", "Pending", id="status-without-conditions"),
    pytest.param("status-without-phase", "Progressing", "Pending", id="status-without-phase"),
    pytest.param("ready", "Healthy", "index public.orders_created_at is valid", id="ready-true"),
    pytest.param("ready-without-message", "Healthy", "Ready", id="ready-true-without-message"),
    pytest.param(
        "failed",
        "Degraded",
        'BuildFailed: permanent error: could not create unique index "orders_created_at"',
        id="failed",
    ),
    pytest.param(
        "failed-without-conditions",
        "Degraded",
        'column "created_at" does not exist',
        id="failed-without-conditions",
    ),
    pytest.param(
        "degraded",
        "Degraded",
        "DefinitionMismatch: a different index with this name exists",
        id="degraded-true",
    ),
    pytest.param(
        "building",
        "Progressing",
        "Building 42%: BuildRunning: building index: scanning table (attempt 1 of 5)",
        id="building-with-percent",
    ),
    pytest.param(
        "retrying",
        "Progressing",
        "Retrying 10%: LockNotAvailable: attempt 2 of 5 failed:"
        " canceling statement due to lock timeout; retrying in 20s",
        id="retrying",
    ),
    pytest.param(
        "ready-unused",
        "Healthy",
        "index public.orders_created_at is valid",
        id="unused-is-informational",
    ),
    pytest.param(
        "reindexing",
        "Progressing",
        "Reindexing 35%: IndexBloated: REINDEX INDEX CONCURRENTLY: building index: scanning table"
        " (estimated bloat 61.2% is above reindexWhenBloatPercentAbove 30%)",
        id="reindexing",
    ),
    pytest.param(
        "waiting-for-secret",
        "Progressing",
        "Waiting: SecretNotFound: secret orders-db not found",
        id="waiting-for-secret",
    ),
]


@pytest.mark.parametrize(("name", "status", "message"), CASES)
def test_health_lua(name: str, status: str, message: str) -> None:
    assert run_health(HEALTH_LUA.read_text(), fixture(name)) == {
        "status": status,
        "message": message,
    }


@pytest.mark.parametrize(("name", "status", "message"), CASES)
def test_argocd_cm_snippet_gives_the_same_result(name: str, status: str, message: str) -> None:
    script = yaml.safe_load(ARGOCD_CM.read_text())["data"][CM_KEY]
    assert run_health(script, fixture(name)) == {"status": status, "message": message}


def test_argocd_cm_snippet_embeds_health_lua_verbatim() -> None:
    cm = yaml.safe_load(ARGOCD_CM.read_text())
    assert cm["apiVersion"] == "v1"
    assert cm["kind"] == "ConfigMap"
    assert cm["metadata"]["name"] == "argocd-cm"
    # No namespace: the doc patches it into `-n argocd` (or wherever Argo CD runs).
    assert "namespace" not in cm["metadata"]
    assert cm["data"] == {CM_KEY: HEALTH_LUA.read_text()}


@pytest.mark.parametrize(
    "obj",
    [
        pytest.param(None, id="obj-nil"),
        pytest.param({}, id="empty-object"),
        pytest.param({"metadata": "not-a-table", "status": 7}, id="wrong-types"),
        pytest.param(
            {"metadata": {"generation": 1}, "status": {"observedGeneration": 1, "conditions": 5}},
            id="conditions-not-a-list",
        ),
        pytest.param(
            {
                "metadata": {"generation": 1},
                "status": {"observedGeneration": 1, "conditions": [None, 3, {"type": None}]},
            },
            id="junk-conditions",
        ),
        pytest.param(
            {"metadata": {"generation": 1}, "status": {"observedGeneration": 1, "progress": 3}},
            id="progress-not-a-table",
        ),
    ],
)
def test_health_lua_is_nil_safe(obj: dict[str, Any] | None) -> None:
    result = run_health(HEALTH_LUA.read_text(), obj)
    assert result["status"] == "Progressing"
    assert isinstance(result["message"], str)
    assert result["message"]


def test_generations_given_as_strings_are_compared_as_numbers() -> None:
    # Argo CD hands json.Number values to Lua as strings; "10" < "9" as strings, not as numbers.
    obj = fixture("ready")
    obj["metadata"]["generation"] = "10"
    obj["status"]["observedGeneration"] = "9"
    assert run_health(HEALTH_LUA.read_text(), obj)["message"] == "Waiting for the operator"
    obj["status"]["observedGeneration"] = "10"
    assert run_health(HEALTH_LUA.read_text(), obj)["status"] == "Healthy"


@pytest.mark.parametrize(
    "expression",
    [
        pytest.param('("x"):upper()', id="string-method"),
        pytest.param('string.format("%d", 1)', id="string-library"),
        pytest.param("tostring(math.floor(1.5))", id="math-library"),
    ],
)
def test_runtime_really_lacks_the_libraries_argo_cd_leaves_out(expression: str) -> None:
    # Guards the guard: the same runtime must reject a script that uses them.
    with pytest.raises(lupa.lua51.LuaError):
        run_health(f'return {{status = "Healthy", message = {expression}}}', {})


def test_fixtures_use_only_values_the_crd_allows() -> None:
    status_schema = yaml.safe_load(CRD_FILE.read_text())["spec"]["versions"][0]["schema"][
        "openAPIV3Schema"
    ]["properties"]["status"]["properties"]
    phases = set(status_schema["phase"]["enum"])
    condition_props = status_schema["conditions"]["items"]["properties"]
    condition_statuses = set(condition_props["status"]["enum"])
    for path in sorted(FIXTURES.glob("*.yaml")):
        status = yaml.safe_load(path.read_text()).get("status") or {}
        assert set(status) <= set(status_schema), path.name
        assert status.get("phase", "Pending") in phases, path.name
        for condition in status.get("conditions", []):
            assert set(condition) <= set(condition_props), path.name
            assert condition["type"] in {"Ready", "Progressing", "Degraded", "Unused"}, path.name
            assert condition["status"] in condition_statuses, path.name


@pytest.mark.parametrize(
    ("phase", "health"),
    [
        pytest.param(status.PENDING, "Progressing", id="pending"),
        pytest.param(status.WAITING, "Progressing", id="waiting"),
        pytest.param(status.BUILDING, "Progressing", id="building"),
        pytest.param(status.RETRYING, "Progressing", id="retrying"),
        pytest.param(status.REPLACING, "Progressing", id="replacing"),
        pytest.param(status.REINDEXING, "Progressing", id="reindexing"),
        pytest.param(status.READY, "Healthy", id="ready"),
        pytest.param(status.FAILED, "Degraded", id="failed"),
        pytest.param(status.PAUSED, "Suspended", id="paused"),
    ],
)
def test_health_of_the_status_the_operator_writes(phase: str, health: str) -> None:
    # The operator's own status renderer, so the script and the operator cannot drift apart.
    report = status.Report(phase=phase, reason="SomeReason", message="some message")
    rendered = status.render(report, generation=3, previous={}, now="2025-01-01T00:00:00Z")
    obj = {"metadata": {"name": "x", "generation": 3}, "status": rendered}
    result = run_health(HEALTH_LUA.read_text(), obj)
    assert result["status"] == health
    if health == "Suspended":
        assert result["message"] == "some message"
    elif health != "Healthy":
        assert "SomeReason: some message" in result["message"]


def test_every_phase_the_operator_writes_has_a_health() -> None:
    """A new phase must be added to the table above (and, if needed, to health.lua)."""
    assert set(status.PHASES) - {status.DELETING} == {
        status.PENDING,
        status.WAITING,
        status.BUILDING,
        status.RETRYING,
        status.REPLACING,
        status.REINDEXING,
        status.READY,
        status.FAILED,
        status.PAUSED,
    }


def test_every_fixture_is_exercised() -> None:
    used = {param.values[0] for param in CASES}
    assert used == {path.stem for path in FIXTURES.glob("*.yaml")}
