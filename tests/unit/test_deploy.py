"""The container image recipe (Dockerfile, .dockerignore), the console script it runs, and the
install guide, read without a server. tests/e2e/test_deploy.py applies the manifests in deploy/
to the real API server; tests/unit/test_generated.py checks the CRD copy in deploy/base/crds/."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"


# -- Dockerfile ------------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pending = f"{pending} {line}" if pending else line
        if pending.endswith("\\"):
            pending = pending[:-1].rstrip()
            continue
        keyword, _, arguments = pending.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def test_dockerfile_uses_a_slim_python_311_base() -> None:
    bases = [args.split()[0] for keyword, args in dockerfile_instructions() if keyword == "FROM"]
    assert bases, "no FROM"
    assert all(base.startswith("python:3.11-slim") for base in bases), bases


def test_dockerfile_runs_as_a_numeric_non_root_user() -> None:
    users = [args for keyword, args in final_stage() if keyword == "USER"]
    assert users, "the final stage sets no USER: the image would run as root"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit(), f"USER {users[-1]}: runAsNonRoot needs a numeric UID"
    assert int(uid) != 0
    assert not gid or (gid.isdigit() and int(gid) != 0)


def test_dockerfile_entrypoint_runs_the_operator_in_exec_form() -> None:
    stage = dict(final_stage())
    # Exec (JSON) form: no shell between the container runtime and the operator, so signals
    # (SIGTERM on pod deletion) reach the operator itself.
    assert json.loads(stage["ENTRYPOINT"]) == ["dbindex-operator", "run"]
    assert json.loads(stage["CMD"]) == ["--all-namespaces"]
    for keyword, args in dockerfile_instructions():
        assert "sh -c" not in args, f"{keyword} {args}: no shell tricks"


def test_dockerfile_installs_the_package_without_dev_extras() -> None:
    runs = " ".join(args for keyword, args in dockerfile_instructions() if keyword == "RUN")
    assert "pip install ." in runs
    assert "[dev]" not in runs and ".[" not in runs


def test_dockerfile_copies_only_what_the_dockerignore_lets_in() -> None:
    allowed = {
        line.removeprefix("!").rstrip("/")
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.startswith("!")
    }
    assert "*" in DOCKERIGNORE.read_text().splitlines(), ".dockerignore should be an allow-list"
    for keyword, args in dockerfile_instructions():
        if keyword != "COPY" or args.startswith("--from"):
            continue
        *sources, _destination = args.split()
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: no such file in the repository"
            assert source.rstrip("/") in allowed, f"COPY {source}: excluded by .dockerignore"


def test_console_script_exists_and_answers_help() -> None:
    script = ROOT / ".venv" / "bin" / "dbindex-operator"
    assert script.exists(), "pip install -e . did not create the dbindex-operator console script"
    result = subprocess.run(
        [str(script), "run", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # The flags the manifests pass must be the ones the CLI knows.
    for flag in ("--all-namespaces", "--namespace", "--log-level", "--liveness"):
        assert flag in result.stdout, f"`dbindex-operator run --help` does not mention {flag}"


# -- the install guide ----------------------------------------------------------------------------


def test_install_doc_names_only_files_that_exist() -> None:
    doc = (ROOT / "docs" / "install.md").read_text()
    paths = set(re.findall(r"(?<![\w./-])((?:deploy|charts|crds|tests)/[\w./-]*[\w])", doc))
    assert paths, "docs/install.md names no repository paths"
    missing = sorted(path for path in paths if not (ROOT / path).exists())
    assert not missing, f"docs/install.md names missing files: {missing}"
