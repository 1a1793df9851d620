"""`make bench`: the operator against psql, side by side, on the same PostgreSQL server.

Run it with ``python -m bench`` (``make bench`` starts a local environment with fsync on first if
none is running). See docs/benchmarks.md for the scenarios, the scale and the JSON it writes.

Modules:
  stats      pure arithmetic: ratios, percentiles, target checks (unit-tested)
  report     the result shape, the printed table and the JSON files
  machine    facts about the machine, for the results
  cluster    PostgreSQL and Kubernetes helpers: databases, namespaces, apply, a status watcher
  process    the operator under test, measured: RSS and CPU from /proc
  scenarios  the scenarios' common steps; p3, p4
  p1         the runbook's twelve indexes: psql, the physical limit, the operator (+ studies)
  p2         one index in interleaved pairs (p2), status freshness meanwhile (p5)
  limit      p1's physical limit: the statements from asyncpg, two tables at a time
  timeline   the operator's time cut into steps from its log and pg_stat_activity (pure)
  activity   catches a build session's start in pg_stat_activity
  runner     runs the selected scenarios and writes the results

The environment itself (``$DBINDEX_LOCAL_DIR/env``), the Kubernetes client, one-shot SQL and the
operator subprocess come from ``tests/harness/``, the harness the end-to-end tests use too.
"""
