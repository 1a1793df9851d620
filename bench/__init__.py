"""`make bench`: the operator against psql, side by side, on the same PostgreSQL server.

Run it with ``python -m bench`` (``make bench`` starts a local environment with fsync on first if
none is running). See docs/benchmarks.md for the scenarios, the scale and the JSON it writes.

Modules:
  stats      pure arithmetic: ratios, percentiles, target checks (unit-tested)
  report     the result shape, the printed table and the JSON files
  machine    facts about the machine, for the results
  cluster    PostgreSQL and Kubernetes helpers: databases, namespaces, apply, a status watcher
  process    the operator under test, measured: RSS and CPU from /proc
  scenarios  p1..p5
  runner     runs the selected scenarios and writes the results

The environment itself (``$DBINDEX_LOCAL_DIR/env``), the Kubernetes client, one-shot SQL and the
operator subprocess come from ``tests/harness/``, the harness the end-to-end tests use too.
"""
