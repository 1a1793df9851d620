# dbindex-operator developer entry points. `make help` lists them.

PYTHON      ?= python3
VENV        ?= .venv
PYTEST_ARGS ?=
# State directory of the local environment (etcd, kube-apiserver, PostgreSQL); see hack/lib.sh.
export DBINDEX_LOCAL_DIR ?= $(CURDIR)/.local

VENV_BIN    := $(VENV)/bin
VENV_STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help venv tools up down test matrix lint generate demo bench clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

venv: $(VENV_STAMP) ## Create .venv and install the project with its dev extras

# Reinstalls whenever pyproject.toml is newer than the stamp.
$(VENV_STAMP): pyproject.toml
	@test -x $(VENV_BIN)/python || $(PYTHON) -m venv $(VENV)
	$(VENV_BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

tools: ## Build etcd, kube-apiserver, kube-controller-manager, kubectl, helm (cached)
	hack/build-tools.sh

up: ## Start the local control plane and PostgreSQL (idempotent); then: source .local/env
	hack/up.sh

down: ## Stop the local environment and remove its runtime data
	hack/down.sh

# Always tears the environment down, and exits with pytest's own status: 5 ("no tests
# collected") is a failure too. Example: make test PYTEST_ARGS='-k crd'
test: venv ## Run the test suite against a fresh-or-running local environment
	@rc=0; \
	trap 'rc=130' INT TERM; \
	if hack/up.sh; then \
	  $(VENV_BIN)/python -m pytest $(PYTEST_ARGS) || rc=$$?; \
	else \
	  rc=$$?; echo "make test: hack/up.sh failed (exit $$rc)" >&2; \
	fi; \
	hack/down.sh || echo "make test: hack/down.sh failed" >&2; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests (exit 5)" >&2; fi; \
	exit $$rc

# Long (each combination starts its own environment and runs tests/e2e): run it by hand, e.g.
# `nice -n 15 make matrix`; MATRIX_ONLY='PG_VERSION=17' picks combinations. CI runs `make test`.
matrix: venv ## tests/e2e once per combination of hack/matrix.env; table in docs/compatibility.md
	hack/matrix.sh

lint: venv ## ruff check, ruff format --check, mypy, import-linter
	$(VENV_BIN)/ruff check .
	$(VENV_BIN)/ruff format --check .
	$(VENV_BIN)/mypy
	@if [ -f .importlinter ]; then echo "$(VENV_BIN)/lint-imports"; $(VENV_BIN)/lint-imports; fi

# crds/ is the one source of the CRD; kustomize and Helm cannot read it from there, so
# deploy/base/crds/ and charts/dbindex-operator/files/ hold generated copies (commit them).
generate: ## Write the generated copies of crds/ into deploy/ and the chart
	hack/generate.sh

# ---- placeholders: filled in by the engineers who own the demo and the benchmarks -------------
# DEMO_SCALE=<rows> sizes the data (default 2000000); DEMO_KEEP=1 leaves everything running.
demo: venv ## The operator end to end: local env, seed data, 12 index builds live, psql comparison
	@VENV=$(VENV) hack/demo.sh

# Uses the environment in $(DBINDEX_LOCAL_DIR) if it runs with fsync=on; starts one (fsync on) if
# none runs, and then stops it again. Never restarts an environment it did not start. Options:
# BENCH=p1,p3 (default all), BENCH_SCALE=5 (the issue's sizes; default 1), BENCH_REPEAT=3.
bench: venv ## Benchmarks vs psql (docs/benchmarks.md); BENCH=p1,p3 BENCH_SCALE=1
	@started=; rc=0; \
	if [ -f "$$DBINDEX_LOCAL_DIR/env" ]; then \
	  if ! grep -q 'pg_fsync=on' "$$DBINDEX_LOCAL_DIR/config" 2>/dev/null; then \
	    echo "make bench: the environment in $$DBINDEX_LOCAL_DIR runs PostgreSQL with fsync=off;" \
	      "benchmarks need fsync=on. Use your own: DBINDEX_LOCAL_DIR=/tmp/bench-env make bench" >&2; \
	    exit 2; \
	  fi; \
	  PG_FSYNC=on hack/up.sh || exit $$?; \
	else \
	  trap 'hack/down.sh || true' EXIT; started=1; \
	  PG_FSYNC=on hack/up.sh || exit $$?; \
	fi; \
	trap 'rc=130' INT TERM; \
	$(VENV_BIN)/python -m bench || rc=$$?; \
	if [ -n "$$started" ]; then echo "make bench: stopping the environment it started" >&2; fi; \
	exit $$rc
# -----------------------------------------------------------------------------------------------

# The fault suite (docs/reliability.md, "Fault suite"): every scenario FAULTS_REPEAT times against
# the environment in $(DBINDEX_LOCAL_DIR) (started, and stopped afterwards, if none runs). It
# stops and starts that environment's PostgreSQL and kube-apiserver on purpose. Options:
# FAULTS=1,3a,9 (default all), FAULTS_REPEAT=20, FAULTS_SEED, FAULTS_BURST=2000 (see faults/).
.PHONY: faults
faults: venv ## The fault suite: FAULTS_REPEAT=20 runs per scenario, table + faults/results/latest.json
	@started=; rc=0; \
	if [ ! -f "$$DBINDEX_LOCAL_DIR/env" ]; then trap 'hack/down.sh || true' EXIT; started=1; fi; \
	hack/up.sh || exit $$?; \
	trap 'rc=130' INT TERM; \
	$(VENV_BIN)/python -m faults || rc=$$?; \
	if [ -n "$$started" ]; then echo "make faults: stopping the environment it started" >&2; fi; \
	exit $$rc

clean: down ## Stop the environment, remove .venv and caches (keeps built tools in ~/.cache)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
	find operator -maxdepth 2 -name '*.egg-info' -type d -prune -exec rm -rf {} +
