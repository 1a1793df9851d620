"""The pure parts of tests/harness/, the code the end-to-end tests and the benchmarks share to
reach the local environment and watch the operator under test."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness import env, process
from tests.harness.pg import with_database


def test_metrics_parsing() -> None:
    text = (
        "# TYPE dbindex_catalog_queries_total counter\n"
        'dbindex_catalog_queries_total{query="state"} 7.0\n'
        'dbindex_catalog_queries_total{query="progress"} 3.0\n'
        'dbindex_catalog_queries_created{query="state"} 1.7e+09\n'
        "# TYPE dbindex_objects gauge\n"
        'dbindex_objects{phase="Ready"} 500.0\n'
        'dbindex_objects{phase="Pending"} 0.0\n'
    )
    samples = process.parse_metrics(text)
    assert process.metric_sum(samples, "dbindex_catalog_queries_total") == 10.0
    assert process.metric_sum(samples, "dbindex_catalog_queries_total", query="state") == 7.0
    assert process.metric_sum(samples, "dbindex_objects", phase="Ready") == 500.0
    assert process.metric_sum(samples, "dbindex_missing_total") == 0.0


def test_with_database_replaces_only_the_path() -> None:
    url = "postgresql://postgres:secret@127.0.0.1:5433/postgres?sslmode=disable"
    assert with_database(url, "t_1") == (
        "postgresql://postgres:secret@127.0.0.1:5433/t_1?sslmode=disable"
    )


def test_state_dir_is_chosen_as_hack_lib_sh_does(tmp_path: Path) -> None:
    assert env.state_dir({"DBINDEX_LOCAL_DIR": str(tmp_path)}) == tmp_path
    assert env.state_dir({}) == env.REPO_ROOT / ".local"
    assert env.state_dir({"DBINDEX_LOCAL_DIR": ""}) == env.REPO_ROOT / ".local"  # ${VAR:-...}


def test_env_file_is_sourced_on_top_of_the_base(tmp_path: Path) -> None:
    env_file = tmp_path / "env"
    env_file.write_text(
        "export KUBECONFIG=/x/kubeconfig\nexport PATH=/x/bin:$PATH\nexport QUOTED='a b'\n"
    )
    loaded = env.read_env_file(env_file, {"PATH": "/usr/bin", "KEPT": "1"})
    assert loaded["KUBECONFIG"] == "/x/kubeconfig"
    assert loaded["PATH"] == "/x/bin:/usr/bin"
    assert loaded["QUOTED"] == "a b"
    assert loaded["KEPT"] == "1"


def test_load_uses_a_complete_environment_as_is_and_sources_otherwise(tmp_path: Path) -> None:
    complete = {"KUBECONFIG": "/k", "PGURL": "postgresql://h/db", "PATH": "/usr/bin"}
    assert env.load(complete) == complete
    (tmp_path / "env").write_text("export KUBECONFIG=/from/file PGURL=postgresql://f/db\n")
    loaded = env.load({"DBINDEX_LOCAL_DIR": str(tmp_path), "PATH": "/usr/bin"})
    assert (loaded["KUBECONFIG"], loaded["PGURL"]) == ("/from/file", "postgresql://f/db")
    with pytest.raises(FileNotFoundError, match=r"start the environment first \(make bench\)"):
        env.load({"DBINDEX_LOCAL_DIR": str(tmp_path / "none")}, hint="make bench")
