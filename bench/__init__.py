"""`make bench`: the operator against psql, side by side, on the same PostgreSQL server.

Run it with ``python -m bench`` (``make bench`` starts a local environment with fsync on first if
none is running). See docs/benchmarks.md for the scenarios, the scale and the JSON it writes.

Modules:
  stats      pure arithmetic: ratios, percentiles, target checks (unit-tested)
  report     the result shape, the printed table and the JSON files
  env        the local environment (``$DBINDEX_LOCAL_DIR/env``) and facts about the machine
  cluster    PostgreSQL and Kubernetes helpers: databases, namespaces, apply, a status watcher
  process    the operator under test as a subprocess: metrics, RSS and CPU from /proc
  scenarios  p1..p5
  runner     runs the selected scenarios and writes the results
"""
