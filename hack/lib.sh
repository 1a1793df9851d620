# Shared helpers for hack/up.sh and hack/down.sh. Source it; it does nothing on its own.
#
# Everything of one local environment lives in ONE state directory:
#   ${DBINDEX_LOCAL_DIR:-<repo>/.local}
#     pki/        CAs, serving and client certificates, ServiceAccount key pair
#     etcd/       etcd data
#     pg/         PostgreSQL (owned by the `postgres` user); may be a symlink to /tmp, see below
#     logs/       one log per process
#     pids/       one file per process we started, holding its PID
#     bin/        kubectl and helm symlinks to the binaries built by hack/build-tools.sh
#     kubeconfig  admin kubeconfig (certificates embedded)
#     env         sourceable: KUBECONFIG, PGURL, PATH, ...
# Several environments can run side by side (tests start a second one in a temp dir).

hack_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$hack_dir/.." && pwd)
# shellcheck source=versions.env
. "$hack_dir/versions.env"

PYTHON=${PYTHON:-python3}
PG_FSYNC=${PG_FSYNC:-off}

# The state directory, always absolute.
state_dir=${DBINDEX_LOCAL_DIR:-$repo_root/.local}
case $state_dir in
  /*) ;;
  *) state_dir="$PWD/$state_dir" ;;
esac
state_dir=${state_dir%/}
[ -n "$state_dir" ] || { echo "refusing to use / as the state directory" >&2; exit 2; }

pki_dir="$state_dir/pki"
pid_dir="$state_dir/pids"
log_dir="$state_dir/logs"
tools_bin="$TOOLS_CACHE/bin"

# The processes we manage, in start order. postgres is handled separately (pg_ctl).
k8s_procs="etcd kube-apiserver kube-controller-manager"

say() { printf '[%s] %s\n' "$(basename "$0" .sh)" "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

# Run a command as the PostgreSQL user: `postgres` when we are root (initdb and postgres refuse to
# run as root), else ourselves. From / so that an unreadable working directory does not matter.
as_pg() {
  if [ "$(id -u)" = 0 ]; then
    (cd / && runuser -u postgres -- "$@")
  else
    (cd / && "$@")
  fi
}

# The real directory PostgreSQL's files are in (pg/ may be a symlink, see up.sh).
pg_root() {
  if [ -L "$state_dir/pg" ]; then readlink "$state_dir/pg"; else echo "$state_dir/pg"; fi
}

# True if PID is a live (non-zombie) process whose executable name starts with NAME and whose
# command line contains MARKER. This keeps us from ever signalling a recycled PID.
pid_matches() {
  local pid=$1 name=$2 marker=$3 exe state
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [ -e "/proc/$pid" ] || return 1
  state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$pid/status" 2>/dev/null) || return 1
  [ "$state" != Z ] || return 1
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
  exe=$(basename "${exe% (deleted)}")
  [[ $exe == "$name"* ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$marker"
}

# The marker each managed process carries on its command line: its own state paths.
proc_marker() {
  case $1 in
    postgres) echo "$(pg_root)/data" ;;
    *) echo "$state_dir/" ;;
  esac
}

# PID recorded for NAME if that process is still ours and alive, else nothing (and status 1).
live_pid() {
  local name=$1 pid
  [ -f "$pid_dir/$name" ] || return 1
  pid=$(cat "$pid_dir/$name" 2>/dev/null) || return 1
  pid_matches "$pid" "$name" "$(proc_marker "$name")" || return 1
  echo "$pid"
}

# Print N distinct free TCP ports on 127.0.0.1, chosen below the usual ephemeral range so that
# outgoing connections are unlikely to take them before our servers bind them.
free_ports() {
  "$PYTHON" - "$1" <<'EOF'
import random, socket, sys
want, found = int(sys.argv[1]), []
candidates = random.sample(range(20000, 32000), 2000)
for port in candidates:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
    found.append(port)
    if len(found) == want:
        break
print(*found)
EOF
}

# wait_http NAME URL TIMEOUT PID [CA CERT KEY]: poll URL until it answers 200, while PID lives.
wait_http() {
  "$PYTHON" - "$@" <<'EOF'
import os, ssl, sys, time, urllib.request
name, url, timeout, pid = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
ctx = None
if len(sys.argv) > 5:
    ctx = ssl.create_default_context(cafile=sys.argv[5])
    ctx.load_cert_chain(sys.argv[6], sys.argv[7])
deadline, last = time.monotonic() + timeout, "no answer"
while time.monotonic() < deadline:
    if not os.path.exists(f"/proc/{pid}"):
        sys.exit(f"{name} (pid {pid}) exited while we waited for {url}")
    try:
        with urllib.request.urlopen(url, context=ctx, timeout=2) as r:
            if r.status == 200:
                sys.exit(0)
            last = f"HTTP {r.status}"
    except Exception as e:  # not ready yet: connection refused, 500 from /readyz, ...
        last = str(e)
    time.sleep(0.25)
sys.exit(f"{name} not ready at {url} after {timeout:.0f}s (last: {last})")
EOF
}

# Show the end of a log after a failure.
show_log() {
  local f=$1
  [ -e "$f" ] || return 0
  say "---- last 40 lines of $f ----"
  tail -n 40 "$f" >&2 || true
  say "----"
}

# Take an exclusive lock on the state directory (up and down never run concurrently on it).
# down.sh deletes the lock file, so a waiter may wake up holding a lock on a deleted file: it
# then checks that its open file is still the one at the path, and tries again if not.
lock_state_dir() {
  [ -z "${DBINDEX_LOCK_HELD:-}" ] || return 0
  command -v flock >/dev/null || return 0
  local deadline=$((SECONDS + 120))
  while :; do
    mkdir -p "$state_dir"
    exec 9>>"$state_dir/.lock"
    flock -w $((deadline - SECONDS > 0 ? deadline - SECONDS : 1)) 9 ||
      die "another hack/up.sh or hack/down.sh holds $state_dir/.lock"
    [ "$(stat -L -c %d:%i /dev/fd/9)" != "$(stat -c %d:%i "$state_dir/.lock" 2>/dev/null)" ] || break
    exec 9>&-
    [ $SECONDS -lt $deadline ] || die "could not lock $state_dir/.lock"
  done
  export DBINDEX_LOCK_HELD=1
}
