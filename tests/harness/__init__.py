"""The one harness shared by the end-to-end tests (tests/conftest.py, tests/e2e/conftest.py) and
the benchmarks (bench/): how to reach the local environment and run the operator under test.

Modules:
  env      the repository root, the local environment's state directory and its env file
  kube     kubectl, and a Kubernetes client with DatabaseIndex helpers
  pg       one-shot PostgreSQL queries, DSN manipulation
  process  the operator as a subprocess (`dbindex-operator run`), its metrics
  scratch  throwaway PostgreSQL clusters, of any major (hack/install-pg.sh)

Importable from pytest (the repository root is on sys.path: ``tests`` is a package) and from
``python -m bench`` run at the repository root. No pytest here: failures raise HarnessError.
"""

from __future__ import annotations


class HarnessError(RuntimeError):
    """The environment, the API server or the operator under test did not do what was asked."""
