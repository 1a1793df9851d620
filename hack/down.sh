#!/usr/bin/env bash
# Stop the local environment started by hack/up.sh and remove its runtime data.
#
# Stops exactly the processes recorded in $DBINDEX_LOCAL_DIR/pids (each PID is checked to still be
# our process: executable name and state-directory path on its command line), never by name:
# SIGTERM, then SIGKILL after a timeout. PostgreSQL is stopped with `pg_ctl stop -m fast`.
# Then removes pki/, etcd/, pg/, logs/, pids/, bin/, kubeconfig, env (only those names; the
# directory itself goes when it is left empty). Safe to run when nothing is up.
#
# DBINDEX_KEEP_LOGS=1 keeps logs/ (hack/up.sh uses it after a failed start).
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

[ -d "$state_dir" ] || exit 0
caller_holds_lock=${DBINDEX_LOCK_HELD:-}  # hack/up.sh calls us with its lock held
lock_state_dir

# Wait until PID is gone (or a zombie waiting for its parent), at most SECONDS.
wait_gone() {
  local pid=$1 name=$2 deadline=$((SECONDS + $3))
  while pid_matches "$pid" "$name" "$(proc_marker "$name")"; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.1
  done
}

stopped=()

# PostgreSQL: pg_ctl first (a clean, fast shutdown of the postmaster and all its backends).
pg_pid=$(live_pid postgres || true)
pg_data="$(pg_root)/data"
if [ -z "$pg_pid" ] && [ -f "$pg_data/postmaster.pid" ]; then
  # up.sh may have died between starting the server and recording its PID.
  pg_pid=$(head -n1 "$pg_data/postmaster.pid" 2>/dev/null || true)
  pid_matches "$pg_pid" postgres "$pg_data" || pg_pid=
fi
if [ -n "$pg_pid" ]; then
  # The pg_ctl of the running server's own major (PG_VERSION may differ from up.sh's call).
  pg_ctl_bin="$(dirname "$(readlink "/proc/$pg_pid/exe" 2>/dev/null || echo "$PG_BINDIR/postgres")")/pg_ctl"
  [ -x "$pg_ctl_bin" ] || pg_ctl_bin="$PG_BINDIR/pg_ctl"
  as_pg "$pg_ctl_bin" -D "$pg_data" stop -m fast -w -t 30 >/dev/null 2>&1 || true
  if ! wait_gone "$pg_pid" postgres 5; then
    say "postgres (pid $pg_pid) did not stop with pg_ctl; sending SIGTERM"
    kill -TERM "$pg_pid" 2>/dev/null || true
    wait_gone "$pg_pid" postgres 10 || { kill -KILL "$pg_pid" 2>/dev/null || true; }
  fi
  stopped+=("postgres($pg_pid)")
fi

# The Kubernetes side, clients before etcd (kube-apiserver stops in ~1 s with etcd alive, but
# hangs in its graceful shutdown without it): SIGTERM, wait 5 s, SIGKILL what is left. Their
# state is thrown away, so a graceful shutdown buys nothing worth waiting longer for.
declare -A pids=()
stop_group() {
  local name pid grace=5
  # Without etcd, kube-apiserver's graceful shutdown only times out: do not wait for it.
  live_pid etcd >/dev/null || grace=1
  declare -A group=()
  for name in "$@"; do
    pid=$(live_pid "$name" || true)
    [ -z "$pid" ] || { group[$name]=$pid; pids[$name]=$pid; kill -TERM "$pid" 2>/dev/null || true; }
  done
  for name in "${!group[@]}"; do
    pid=${group[$name]}
    if ! wait_gone "$pid" "$name" $grace; then
      say "$name (pid $pid) ignored SIGTERM for ${grace}s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      wait_gone "$pid" "$name" 5 || say "WARNING: $name (pid $pid) is still there"
    fi
    stopped+=("$name($pid)")
  done
}
stop_group kube-controller-manager kube-apiserver
stop_group etcd

# Give PID 1 a moment to reap what we stopped, so /proc no longer lists them (best effort).
for name in "${!pids[@]}" ${pg_pid:+postgres}; do
  pid=${pids[$name]:-$pg_pid}
  for _ in $(seq 50); do [ -e "/proc/$pid" ] || break; sleep 0.1; done
done

# Runtime data. Only names up.sh creates; pg/ may be a symlink to a directory in /tmp.
if [ -L "$state_dir/pg" ]; then
  target=$(readlink "$state_dir/pg")
  case $target in /tmp/dbindex-pg.*) rm -rf -- "$target" ;; esac
fi
rm -rf -- "$state_dir/pg" "$state_dir/pki" "$state_dir/etcd" "$state_dir/pids" \
  "$state_dir/bin" "$state_dir/kubeconfig" "$state_dir/env" "$state_dir/env.tmp" \
  "$state_dir/config"
[ -n "${DBINDEX_KEEP_LOGS:-}" ] || rm -rf -- "$state_dir/logs"
if [ -z "$caller_holds_lock" ]; then
  rm -f -- "$state_dir/.lock"
  rmdir -- "$state_dir" 2>/dev/null || true
fi

if [ ${#stopped[@]} -gt 0 ]; then
  say "stopped ${stopped[*]}; removed runtime data in $state_dir"
fi
