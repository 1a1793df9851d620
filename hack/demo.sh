#!/usr/bin/env bash
# `make demo`: the operator end to end on this machine, in one command.
#
#   1. starts the local environment (hack/up.sh: etcd, kube-apiserver, kube-controller-manager,
#      PostgreSQL 15) unless it is already up,
#   2. creates the database `demo` and fills it from examples/seed/schema.sql + generate.sql
#      (DEMO_SCALE rows in the biggest tables), then copies it to `demo_psql` (for the comparison),
#   3. installs the CRD, creates the namespace `demo` and the Secret demo-db (examples/seed/
#      secret.yaml with the DSN of the local PostgreSQL), starts the operator in the background
#      (watching namespace demo only; log in $DBINDEX_LOCAL_DIR/logs/operator-demo.log),
#   4. applies examples/seed/indexes.yaml (the runbook's twelve indexes) and shows the builds live
#      (a refreshing table on a terminal, one line per change otherwise),
#   5. prints a summary: per index valid (pg_index), build time, same definition as psql; the
#      total wall time; then the same twelve statements run by psql from examples/seed/runbook.sql
#      in demo_psql, timed, for comparison.
#
# By default nothing is left running: the operator is stopped, and so is the environment if (and
# only if) the demo started it. DEMO_KEEP=1 keeps everything running (the operator stops by itself
# when the environment is stopped with `make down`).
#
# Environment: DEMO_SCALE (rows in the biggest tables; default 2000000: about 45 s to load and
# builds of 0.1-4 s each on 2 cores), DEMO_KEEP (unset), DEMO_TIMEOUT (seconds to wait for the
# builds, default 900), DBINDEX_LOCAL_DIR (state directory, default <repo>/.local), VENV.
# Exit status: 0 when all twelve indexes are valid, 1 otherwise (or on any failure on the way).
# The last line is always `demo: N/12 indexes valid` once the builds were watched.
set -euo pipefail

hack_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$hack_dir/.." && pwd)
cd "$repo_root"

DEMO_SCALE=${DEMO_SCALE:-2000000}
DEMO_KEEP=${DEMO_KEEP:-}
DEMO_TIMEOUT=${DEMO_TIMEOUT:-900}
VENV=${VENV:-.venv}
case $DEMO_SCALE in '' | *[!0-9]*) echo "demo: DEMO_SCALE must be a number, not '$DEMO_SCALE'" >&2; exit 2 ;; esac
[ "$DEMO_SCALE" -ge 100 ] || { echo "demo: DEMO_SCALE must be at least 100" >&2; exit 2; }
case $DEMO_KEEP in '' | 0) DEMO_KEEP= ;; *) DEMO_KEEP=1 ;; esac

state_dir=${DBINDEX_LOCAL_DIR:-$repo_root/.local}
case $state_dir in /*) ;; *) state_dir="$PWD/$state_dir" ;; esac
state_dir=${state_dir%/}
export DBINDEX_LOCAL_DIR=$state_dir
py="$repo_root/$VENV/bin/python"
operator_bin="$repo_root/$VENV/bin/dbindex-operator"
seed="$repo_root/examples/seed"
ns=demo
db=demo
db_psql=demo_psql

bold='' dim='' reset=''
if [ -t 1 ]; then bold=$'\e[1m' dim=$'\e[2m' reset=$'\e[0m'; fi
step() { printf '\n%s==> %s%s\n' "$bold" "$*" "$reset"; }
info() { printf '    %s\n' "$*"; }
die() { printf 'demo: ERROR: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

[ -x "$py" ] && [ -x "$operator_bin" ] || die "$VENV is missing: run 'make venv' (make demo does)"
t_demo=$(now)
scratch=$(mktemp -d /tmp/dbindex-demo.XXXXXXXX)

# ---------------------------------------------------------------- cleanup
started_env=
op_pid=
watchdog_pid=
finished=

# A process the demo started: alive, not a zombie, its command line names NEEDLE and its
# environment carries this state directory (so a recycled PID is never signalled).
ours() { # ours PID NEEDLE
  local pid=$1 state
  [[ $pid =~ ^[0-9]+$ ]] && [ -e "/proc/$pid" ] || return 1
  state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$pid/status" 2>/dev/null) || return 1
  [ "$state" != Z ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$2" || return 1
  tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qxF -- "DBINDEX_DEMO_STATE=$state_dir"
}

stop_pid() { # stop_pid PID NEEDLE: SIGTERM, up to 20 s, then SIGKILL
  local pid=$1 i
  ours "$pid" "$2" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 200); do ours "$pid" "$2" || break; sleep 0.1; done
  if ours "$pid" "$2"; then
    echo "demo: $2 (pid $pid) ignored SIGTERM for 20s; sending SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
    for i in $(seq 50); do ours "$pid" "$2" || break; sleep 0.1; done
  fi
  wait "$pid" 2>/dev/null || true # reap it if it is our child
}

stop_operator() {
  [ -z "$watchdog_pid" ] || stop_pid "$watchdog_pid" demo-watchdog
  [ -z "$op_pid" ] || stop_pid "$op_pid" dbindex-operator
  op_pid= watchdog_pid=
  rm -f "$state_dir/logs/operator-demo.pid"
}

teardown() {
  stop_operator
  if [ -n "$started_env" ]; then
    "$hack_dir/down.sh" || echo "demo: hack/down.sh failed" >&2
    started_env=
  fi
}

on_exit() {
  local rc=$?
  trap - EXIT INT TERM
  rm -rf -- "$scratch"
  if [ -z "$finished" ]; then
    if [ -n "$DEMO_KEEP" ] && [ -n "$op_pid" ] && [ $rc -ne 130 ]; then
      echo "demo: failed (exit $rc); DEMO_KEEP=1: leaving everything running" >&2
    else
      [ -z "$op_pid" ] || echo "demo: stopping the operator" >&2
      [ -z "$started_env" ] || echo "demo: stopping the environment the demo started" >&2
      teardown
    fi
  fi
  exit $rc
}
trap on_exit EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- 1. environment
step "Local environment (hack/up.sh; state in $state_dir)"
up_log="$scratch/up.log"
set +e
{ "$hack_dir/up.sh" 2>&1 1>&3 | tee "$up_log" >&2; } 3>&1
up_rc=${PIPESTATUS[0]}
set -e
if grep -q '^Local environment already up' "$up_log"; then
  info "already running: the demo leaves it running at the end"
elif [ $up_rc -eq 0 ] || [ -e "$state_dir/env" ]; then
  started_env=1
fi
[ $up_rc -eq 0 ] || die "hack/up.sh failed (exit $up_rc)"
# shellcheck disable=SC1091
. "$state_dir/env"
export DBINDEX_DEMO_STATE=$state_dir
# A path, never the bare name: the function below is called psql, and a bare "psql" in it would
# call itself forever (bash grew to 22 GB and was OOM-killed with PostgreSQL 14-18, whose
# hack/install-pg.sh server packages ship no psql of their own).
psql_bin=$(type -P psql || true)
[ ! -x "$PG_BINDIR/psql" ] || psql_bin="$PG_BINDIR/psql"
[ -n "$psql_bin" ] || die "no psql: neither in $PG_BINDIR nor on PATH"
psql() { PGOPTIONS="-c client_min_messages=warning" "$psql_bin" -X -q -v ON_ERROR_STOP=1 "$@"; }
log_dir="$state_dir/logs"
mkdir -p "$log_dir"

# A previous `DEMO_KEEP=1 make demo` may have left its operator running here: stop it.
if [ -f "$log_dir/operator-demo.pid" ]; then
  read -r old_op old_watchdog <"$log_dir/operator-demo.pid" || true
  if ours "${old_op:-x}" dbindex-operator; then
    info "stopping the operator of a previous demo (pid $old_op)"
  fi
  stop_pid "${old_watchdog:-x}" demo-watchdog
  stop_pid "${old_op:-x}" dbindex-operator
  rm -f "$log_dir/operator-demo.pid"
fi

# ---------------------------------------------------------------- 2. data
step "CRD and namespace $ns"
kubectl apply --server-side --force-conflicts -f crds/ >/dev/null
kubectl wait --for=condition=Established --timeout=60s crd/databaseindexes.dbindex.dev >/dev/null
info "CRD databaseindexes.dbindex.dev established"
if kubectl get namespace "$ns" >/dev/null 2>&1; then
  # Left by an earlier demo: start from a clean slate. No operator watches the namespace now, so
  # release the finalizers ourselves (deletionPolicy Retain: nothing to drop in PostgreSQL).
  old=$(kubectl get dbindex -n "$ns" -o name)
  if [ -n "$old" ]; then
    info "removing $(wc -l <<<"$old") DatabaseIndex objects left in namespace $ns by an earlier run"
    for obj in $old; do
      kubectl patch -n "$ns" "$obj" --type=merge -p '{"metadata":{"finalizers":null}}' >/dev/null
    done
    kubectl delete -n "$ns" dbindex --all --wait=true --timeout=60s >/dev/null
  fi
else
  kubectl create namespace "$ns" >/dev/null
fi
info "namespace $ns ready"

step "Database $db: schema and data (DEMO_SCALE=$DEMO_SCALE)"
psql -d postgres -c "DROP DATABASE IF EXISTS $db_psql WITH (FORCE)" \
  -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
t=$(now)
psql -d "$db" -f "$seed/schema.sql"
psql -d "$db" -v scale="$DEMO_SCALE" -f "$seed/generate.sql" |
  { grep -v -e '^$' -e '^([0-9]* rows)$' || true; } | sed 's/^/    /'
info "loaded in $(since "$t")s"
# The comparison database: the same data, copied now, before any index is built.
psql -d postgres -c "CREATE DATABASE $db_psql TEMPLATE $db"
info "copied to database $db_psql (for the psql comparison at the end)"

# ---------------------------------------------------------------- 3. secret and operator
step "Secret demo-db and the operator"
dsn="postgresql://$PGUSER@127.0.0.1:$PGPORT/$db"
secret=$(sed "s#^\([[:space:]]*dsn:\).*#\1 $dsn#" "$seed/secret.yaml")
grep -qF "dsn: $dsn" <<<"$secret" || die "could not find the dsn line in $seed/secret.yaml"
kubectl apply -n "$ns" -f - <<<"$secret" >/dev/null
info "secret demo-db: dsn $dsn"

op_log="$log_dir/operator-demo.log"
metrics_port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# Own session (Ctrl-C reaches the demo, which stops it), no inherited stdio (callers capturing our
# output never hang on it).
DBINDEX_METRICS_ADDRESS=127.0.0.1 DBINDEX_METRICS_PORT=$metrics_port DBINDEX_PROGRESS_INTERVAL=1 \
  setsid "$operator_bin" run --namespace "$ns" </dev/null >>"$op_log" 2>&1 &
op_pid=$!
if [ -n "$DEMO_KEEP" ]; then
  # Stops the operator when the environment goes away (`make down` does not know about it).
  # hack/down.sh stops PostgreSQL first, then the API server.
  setsid bash -c 'while [ -e "/proc/$1" ] && [ -e "/proc/$2" ] && [ -e "/proc/$3" ]; do sleep 1; done
    kill -TERM "$3" 2>/dev/null # demo-watchdog' demo-watchdog \
    "$(cat "$state_dir/pids/postgres")" "$(cat "$state_dir/pids/kube-apiserver")" "$op_pid" \
    </dev/null >/dev/null 2>&1 &
  watchdog_pid=$!
fi
echo "$op_pid $watchdog_pid" >"$log_dir/operator-demo.pid"
op_up=
for _ in $(seq 150); do
  ours "$op_pid" dbindex-operator || { tail -n 30 "$op_log" >&2; die "the operator exited (log: $op_log)"; }
  if "$py" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' \
    "http://127.0.0.1:$metrics_port/metrics" 2>/dev/null; then op_up=1; break; fi
  sleep 0.2
done
[ -n "$op_up" ] || { tail -n 30 "$op_log" >&2; die "the operator did not come up (log: $op_log)"; }
info "operator running (pid $op_pid, namespace $ns, metrics http://127.0.0.1:$metrics_port/metrics)"
info "log: $op_log"

# ---------------------------------------------------------------- 4. apply and watch
read -r -d '' PROGRAM <<'PYTHON' || true
"""The demo's watcher and summary. argv: watch|summary STATE..."""
import asyncio, datetime, os, re, subprocess, sys, time

import asyncpg
import kubernetes
import yaml

GROUP, VERSION, PLURAL = "dbindex.dev", "v1alpha1", "databaseindexes"
command, ns, manifests = sys.argv[1], sys.argv[2], sys.argv[3]
order = [d["metadata"]["name"] for d in yaml.safe_load_all(open(manifests)) if d]
api = kubernetes.config.new_client_from_config(config_file=os.environ["KUBECONFIG"])
custom = kubernetes.client.CustomObjectsApi(api)
core = kubernetes.client.CoreV1Api(api)


def objects():
    items = custom.list_namespaced_custom_object(GROUP, VERSION, ns, PLURAL)["items"]
    return {o["metadata"]["name"]: o for o in items}


def bar(percent, width=20):
    filled = round(width * percent / 100)
    return "[" + "#" * filled + "." * (width - filled) + "]"


def watch(timeout, wall_file):
    """kubectl apply the manifests, then show their progress until each is Ready or Failed."""
    tty = sys.stdout.isatty()
    start, drawn, last = time.monotonic(), 0, {}
    applied = subprocess.run(["kubectl", "apply", "-n", ns, "-f", manifests],
                             capture_output=True, text=True)
    for line in (applied.stdout + applied.stderr).splitlines():
        print(f"    {line}")
    if applied.returncode != 0:
        return 2
    print(flush=True)
    while True:
        elapsed = time.monotonic() - start
        objs = objects()
        rows, counts = [], {}
        for name in order:
            o = objs.get(name, {})
            st = o.get("status") or {}
            phase = st.get("phase") or "-"
            counts[phase] = counts.get(phase, 0) + 1
            progress = st.get("progress") or {}
            percent = progress.get("percent") if phase in ("Building", "Ready") else None
            detail = progress.get("phase", "") if phase == "Building" else ""
            if phase in ("Retrying", "Failed"):
                detail = (st.get("lastError") or {}).get("message", "")[:60]
            rows.append((name, o.get("spec", {}).get("table", ""), phase, percent, detail))
        done = all(r[2] in ("Ready", "Failed") for r in rows)
        summary = "  ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        if tty:
            lines = [f"  {elapsed:5.0f}s   {summary}", ""]
            lines.append(f"  {'NAME':<31} {'TABLE':<16} {'PHASE':<9} {'PROGRESS':<27} DETAIL")
            for name, table, phase, percent, detail in rows:
                shown = f"{bar(percent)} {percent:3d}%" if percent is not None else ""
                lines.append(f"  {name:<31} {table:<16} {phase:<9} {shown:<27} {detail}")
            out = f"\x1b[{drawn}F" if drawn else ""
            out += "".join(f"\x1b[2K{line}\n" for line in lines)
            sys.stdout.write(out)
            sys.stdout.flush()
            drawn = len(lines)
        else:
            for name, table, phase, percent, detail in rows:
                key = (phase, detail, None if percent is None else percent // 25)
                if last.get(name) != key:
                    last[name] = key
                    shown = f"{percent:3d}%" if percent is not None else "    "
                    print(f"  {elapsed:6.1f}s  {name:<31} {phase:<9} {shown}  {detail}".rstrip(),
                          flush=True)
        if done or elapsed > timeout:
            if not tty:
                print(f"  {elapsed:6.1f}s  {summary}", flush=True)
            with open(wall_file, "w") as f:
                f.write(f"{time.monotonic() - start:.1f}\n")
            return 0 if done else 1
        time.sleep(max(0.0, 1.0 - (time.monotonic() - start - elapsed)))


def parse_time(value):
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


async def catalog(dsn, names):
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            """SELECT c.relname, x.indisvalid, pg_get_indexdef(x.indexrelid) AS def
               FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid
               JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = 'public' AND c.relname = ANY($1::text[])""",
            names,
        )
        return {r["relname"]: (r["indisvalid"], r["def"]) for r in rows}
    finally:
        await conn.close()


def summary(wall, dsn, dsn_psql, psql_out, psql_wall, runbook):
    objs = objects()
    names = {n: (objs.get(n, {}).get("spec") or {}).get("name", n.replace("-", "_")) for n in order}
    ours = asyncio.run(catalog(dsn, list(names.values())))
    theirs = asyncio.run(catalog(dsn_psql, list(names.values())))
    took = {}
    uids = {o["metadata"]["uid"]: n for n, o in objs.items()}  # not a previous demo's objects
    for event in core.list_namespaced_event(ns).items:
        m = re.search(r"built in ([0-9.]+)s", event.message or "")
        if event.reason == "BuildSucceeded" and m and event.involved_object.uid in uids:
            took[uids[event.involved_object.uid]] = float(m.group(1))
    # psql: \timing prints one "Time: ... ms" per statement, in runbook order.
    psql_names = re.findall(
        r"CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?:CONCURRENTLY\s+)?(?:IF\s+NOT\s+EXISTS\s+)?(\w+)",
        open(runbook).read(), re.I)
    psql_times = [float(t) / 1000 for t in re.findall(r"^Time: ([0-9.]+) ms", open(psql_out).read(), re.M)]
    psql_took = dict(zip(psql_names, psql_times))

    print(f"  {'INDEX':<31} {'TABLE':<16} {'VALID':<6} {'ATTEMPTS':>8} {'OPERATOR':>9} {'PSQL':>8}  SAME AS PSQL")
    valid_count, total_build = 0, 0.0
    for name in order:
        o = objs.get(name, {})
        st, index = o.get("status") or {}, names[name]
        valid, definition = ours.get(index, (False, None))
        valid_count += bool(valid)
        build = took.get(name)
        if build is None and st.get("startedAt") and st.get("completedAt"):
            build = (parse_time(st["completedAt"]) - parse_time(st["startedAt"])).total_seconds()
        total_build += build or 0
        same = "yes" if definition and theirs.get(index, (None, None))[1] == definition else "NO"
        p = psql_took.get(index)
        print(f"  {name:<31} {o.get('spec', {}).get('table', ''):<16} {'yes' if valid else 'NO':<6}"
              f" {st.get('attempts', 0):>8} {(f'{build:.1f}s' if build is not None else '-'):>9}"
              f" {(f'{p:.1f}s' if p is not None else '-'):>8}  {same}")
    print()
    print(f"  operator: all {len(order)} built {wall:.1f}s after kubectl apply"
          f" (sum of build times {total_build:.1f}s; up to"
          f" {os.environ.get('DBINDEX_BUILD_CONCURRENCY', '2')} builds at a time, one per table)")
    print(f"  psql:     runbook.sql (the same {len(psql_times)} statements, one after the other)"
          f" took {psql_wall:.1f}s (sum of statement times {sum(psql_times):.1f}s)")
    with open(os.environ["DEMO_RESULT"], "w") as f:
        f.write(f"{valid_count} {len(order)}\n")
    return 0


try:
    if command == "watch":
        sys.exit(watch(float(sys.argv[4]), sys.argv[5]))
    w, dsn, dsn_psql, out, psql_wall, runbook = sys.argv[4:]
    sys.exit(summary(float(w), dsn, dsn_psql, out, float(psql_wall), runbook))
except KeyboardInterrupt:
    print()
    sys.exit(130)
PYTHON

step "kubectl apply -n $ns -f examples/seed/indexes.yaml, and watch (by hand: kubectl get dbindex -n $ns -w)"
watch_rc=0
wall_file="$scratch/wall"
"$py" -c "$PROGRAM" watch "$ns" "$seed/indexes.yaml" "$DEMO_TIMEOUT" "$wall_file" || watch_rc=$?
wall=$(cat "$wall_file"); wall=${wall:-0}
case $watch_rc in
  0) ;;
  2) die "kubectl apply -f examples/seed/indexes.yaml failed" ;;
  *) echo "demo: not every index reached Ready or Failed within ${DEMO_TIMEOUT}s" >&2 ;;
esac

# ---------------------------------------------------------------- 5. the same with psql
step "The same twelve statements with psql (examples/seed/runbook.sql in database $db_psql)"
psql_out="$scratch/psql.out"
t=$(now)
psql -d "$db_psql" -c '\timing on' -f "$seed/runbook.sql" >"$psql_out" 2>&1 ||
  { cat "$psql_out" >&2; echo "demo: psql failed on runbook.sql" >&2; }
psql_wall=$(since "$t")
info "done in ${psql_wall}s"

step "Summary"
result="$scratch/result"
DEMO_RESULT=$result "$py" -c "$PROGRAM" summary "$ns" "$seed/indexes.yaml" "$wall" \
  "postgresql://$PGUSER@127.0.0.1:$PGPORT/$db" "postgresql://$PGUSER@127.0.0.1:$PGPORT/$db_psql" \
  "$psql_out" "$psql_wall" "$seed/runbook.sql" || true
read -r valid total <"$result" || { valid=0; total=12; }
info "total wall time of the demo: $(since "$t_demo")s"

# ---------------------------------------------------------------- the end
shown_dir=$state_dir
case $state_dir in "$repo_root"/*) shown_dir=${state_dir#"$repo_root"/} ;; esac
make_down="make down"
[ "$state_dir" = "$repo_root/.local" ] || make_down="DBINDEX_LOCAL_DIR=$state_dir make down"
if [ -n "$DEMO_KEEP" ]; then
  step "Still running (DEMO_KEEP=1)"
  info "keep poking:  source $shown_dir/env; kubectl get dbindex -n $ns"
  info "              kubectl describe dbindex -n $ns idx-activities-feed; psql -d $db -c '\\di'"
  info "operator log: $op_log (pid $op_pid)"
  info "stop it all:  $make_down   (the operator stops with the environment)"
else
  step "Cleaning up"
  stop_operator
  info "operator stopped"
  if [ -n "$started_env" ]; then
    teardown
    info "environment stopped (the demo started it)"
  else
    info "the environment was already running before the demo, so it stays up"
    info "keep poking:  source $shown_dir/env; kubectl get dbindex -n $ns; psql -d $db"
    info "stop it:      $make_down"
  fi
  info "to keep everything running after the demo: DEMO_KEEP=1 make demo"
fi
finished=1
printf '\ndemo: %s/%s indexes valid\n' "$valid" "$total"
[ "$valid" = "$total" ] && [ "$total" -gt 0 ]
