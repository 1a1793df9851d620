"""The fault suite: `make faults` (issue #16 part 1, docs/reliability.md "Fault suite").

Each scenario breaks something real in the local environment (the operator process,
PostgreSQL, kube-apiserver, the data, the Secret, the spec, the API server's answers) while
the operator works, repeats that FAULTS_REPEAT times, and judges every run by what the cluster
and the database say afterwards: Ready, no INVALID index left, never two builds of one index,
no secret in logs, status or Events. Built on tests/harness/, like bench/.

Modules:
  context      the environment, the operator under test, per-run namespaces and databases
  interrupted  1-4: SIGKILL, pg_terminate_backend, PostgreSQL restart/stop, API server stop
  blocked      5-6: an idle-in-transaction blocker; UNIQUE over duplicates (no hot loop)
  secrets      7: the Secret deleted, recreated, rotated
  hostile      8: hostile and malformed specs, proven SQL-free from PostgreSQL's log
  burst        9: a burst of new objects while the API server's answers are lost
  proxy        the fault-injecting API proxy scenario 9 uses
  pglog        PostgreSQL's log read per database and application
  report       the table and faults/results/latest.json
  runner       the loop over scenarios and repetitions
"""
