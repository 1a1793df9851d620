#!/usr/bin/env bash
# Start the local test environment: etcd, kube-apiserver (RBAC on, x509 client auth, ServiceAccount
# tokens), kube-controller-manager (namespace, garbage-collector and serviceaccount controllers)
# and PostgreSQL (15 by default; PG_VERSION=14..18), all on free loopback ports, all state in
# ${DBINDEX_LOCAL_DIR:-<repo>/.local}.
#
# Idempotent: when everything is already up and healthy it only prints the summary (same PIDs).
# When something died, or the requested versions / PG_FSYNC changed, it stops what is left
# (hack/down.sh) and starts afresh. On failure it prints the end of the failing log, stops what
# it started (logs are kept) and exits non-zero.
#
# Environment: DBINDEX_LOCAL_DIR (state directory), PG_FSYNC=on|off (default off; benchmarks want
# on), K8S_VERSION / ETCD_VERSION / HELM_VERSION / PG_VERSION / PG_BINDIR / TOOLS_CACHE
# (hack/versions.env; majors other than Debian's 15 are installed by hack/install-pg.sh).
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

case $PG_FSYNC in on|off) ;; *) die "PG_FSYNC must be on or off, not '$PG_FSYNC'" ;; esac
case $state_dir in *[[:space:]]*) die "the state directory may not contain spaces: '$state_dir'" ;; esac
for tool in openssl "$PYTHON" base64; do
  command -v "$tool" >/dev/null || die "'$tool' is required (see README.md, Requirements)"
done
if [ ! -x "$PG_BINDIR/initdb" ] && [ "$PG_BINDIR" = "$PG_CACHE/$PG_VERSION/bin" ]; then
  "$hack_dir/install-pg.sh" "$PG_VERSION" >/dev/null
fi
[ -x "$PG_BINDIR/initdb" ] && [ -x "$PG_BINDIR/pg_ctl" ] ||
  die "PostgreSQL $PG_VERSION server binaries not found in $PG_BINDIR (Debian: apt-get install postgresql-15; other majors: hack/install-pg.sh)"
pg_major=$("$PG_BINDIR/postgres" --version | sed -n 's/^[^0-9]*\([0-9][0-9]*\).*/\1/p')
[ "$pg_major" = "$PG_VERSION" ] ||
  die "PG_BINDIR=$PG_BINDIR holds PostgreSQL ${pg_major:-?}, not PG_VERSION=$PG_VERSION (unset PG_BINDIR?)"
# The bundled majors ship no client programs; any pg_isready speaks to any server.
pg_isready_bin="$PG_BINDIR/pg_isready"
[ -x "$pg_isready_bin" ] || pg_isready_bin=$(command -v pg_isready) ||
  die "pg_isready not found (Debian: apt-get install postgresql-client)"
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || die "running as root needs the 'postgres' user (it runs initdb/postgres)"
fi

# Build (or find cached) binaries first: a failed build must not tear down a running environment.
"$hack_dir/build-tools.sh"
etcd_bin="$tools_bin/etcd-$ETCD_VERSION"
apiserver_bin="$tools_bin/kube-apiserver-$K8S_VERSION"
kcm_bin="$tools_bin/kube-controller-manager-$K8S_VERSION"
kubectl_bin="$tools_bin/kubectl-$K8S_VERSION"
helm_bin="$tools_bin/helm-$HELM_VERSION"

lock_state_dir
config="k8s=$K8S_VERSION etcd=$ETCD_VERSION pg=$PG_VERSION pg_bindir=$PG_BINDIR pg_fsync=$PG_FSYNC"

summary() {
  local shown=$state_dir
  case $state_dir in "$PWD"/*) shown=${state_dir#"$PWD"/} ;; esac
  # shellcheck disable=SC1091
  ( . "$state_dir/env"
    cat >&2 <<EOF
Local environment $1 (state in $state_dir)
  kube-apiserver  $DBINDEX_APISERVER_URL  (Kubernetes $K8S_VERSION, RBAC on)
  etcd            $DBINDEX_ETCD_URL
  postgres        $PGURL  (PostgreSQL $PG_VERSION, fsync=$PG_FSYNC)
  logs            $state_dir/logs/
Use it:   source $shown/env && kubectl get ns && psql -c 'select version()'
Stop it:  make down   (or hack/down.sh)
EOF
  )
}

# ---------------------------------------------------------------- already up?
all_alive() {
  local p
  for p in $k8s_procs postgres; do live_pid "$p" >/dev/null || return 1; done
}
healthy() {
  # shellcheck disable=SC1091
  ( . "$state_dir/env" &&
    wait_http etcd "$DBINDEX_ETCD_URL/health" 5 "$(live_pid etcd)" &&
    wait_http kube-apiserver "$DBINDEX_APISERVER_URL/readyz" 10 "$(live_pid kube-apiserver)" \
      "$DBINDEX_CA_CERT" "$DBINDEX_ADMIN_CERT" "$DBINDEX_ADMIN_KEY" &&
    "$pg_isready_bin" -q -h 127.0.0.1 -p "$PGPORT" -t 5 )
}
if [ -f "$state_dir/env" ] && [ "$(cat "$state_dir/config" 2>/dev/null)" = "$config" ] &&
   all_alive && healthy 2>/dev/null; then
  summary "already up"
  exit 0
fi
if [ -e "$state_dir/pids" ] || [ -e "$state_dir/pg" ] || [ -e "$state_dir/env" ]; then
  say "found a stale or partial environment in $state_dir (or other settings): restarting it"
  "$hack_dir/down.sh"
fi

# ---------------------------------------------------------------- start afresh
mkdir -p "$state_dir" "$pki_dir" "$pid_dir" "$log_dir" "$state_dir/etcd" "$state_dir/bin"
chmod 700 "$pki_dir" "$state_dir/etcd"
started_ok=
on_exit() {
  if [ -z "$started_ok" ]; then
    say "start-up failed; stopping what was started (logs kept in $log_dir)"
    DBINDEX_KEEP_LOGS=1 "$hack_dir/down.sh" || true
  fi
}
trap on_exit EXIT

read -r etcd_port etcd_peer_port api_port pg_port < <(free_ports 4)
[ -n "${pg_port:-}" ] || die "could not find 4 free ports on 127.0.0.1"
etcd_url="http://127.0.0.1:$etcd_port"
api_url="https://127.0.0.1:$api_port"

# ---- PKI (openssl). EC keys for certificates (fast), RSA for ServiceAccount tokens (RS256).
ssl_quiet() { openssl "$@" 2>>"$log_dir/openssl.log" >/dev/null || { show_log "$log_dir/openssl.log"; die "openssl $1 failed"; }; }
new_ca() { # new_ca NAME CN
  ssl_quiet req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
    -keyout "$pki_dir/$1.key" -out "$pki_dir/$1.crt" -days 3650 -subj "/CN=$2" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
    -addext "subjectKeyIdentifier=hash"
}
new_cert() { # new_cert NAME CA SUBJECT EXTENDED_KEY_USAGE [SAN]
  local ext="$pki_dir/$1.ext"
  { echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$4"
    echo "subjectKeyIdentifier=hash"
    echo "authorityKeyIdentifier=keyid"
    [ -z "${5:-}" ] || echo "subjectAltName=$5"
  } >"$ext"
  ssl_quiet req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
    -keyout "$pki_dir/$1.key" -out "$pki_dir/$1.csr" -subj "$3"
  ssl_quiet x509 -req -in "$pki_dir/$1.csr" -CA "$pki_dir/$2.crt" -CAkey "$pki_dir/$2.key" \
    -CAcreateserial -out "$pki_dir/$1.crt" -days 3650 -extfile "$ext"
  rm -f "$pki_dir/$1.csr" "$ext"
}
new_ca serving-ca "dbindex-local serving CA"
new_ca client-ca "dbindex-local client CA"
new_cert apiserver serving-ca "/CN=kube-apiserver" serverAuth "IP:127.0.0.1,DNS:localhost"
new_cert admin client-ca "/O=system:masters/CN=admin" clientAuth
new_cert kube-controller-manager client-ca "/O=system:masters/CN=system:kube-controller-manager" clientAuth
ssl_quiet genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$pki_dir/sa.key"
ssl_quiet pkey -in "$pki_dir/sa.key" -pubout -out "$pki_dir/sa.pub"

b64() { base64 -w0 <"$1"; }
write_kubeconfig() { # write_kubeconfig FILE CERT_NAME USER
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: dbindex-local
  cluster:
    server: $api_url
    certificate-authority-data: $(b64 "$pki_dir/serving-ca.crt")
users:
- name: $3
  user:
    client-certificate-data: $(b64 "$pki_dir/$2.crt")
    client-key-data: $(b64 "$pki_dir/$2.key")
contexts:
- name: dbindex-local
  context:
    cluster: dbindex-local
    user: $3
current-context: dbindex-local
EOF
  chmod 600 "$1"
}
write_kubeconfig "$state_dir/kubeconfig" admin admin
write_kubeconfig "$pki_dir/kube-controller-manager.kubeconfig" kube-controller-manager kube-controller-manager

# ---- background processes: own session (Ctrl-C elsewhere does not reach them), no inherited
# stdio (callers capturing our output never hang) nor lock fd 9 (it would hold the state
# directory's lock for as long as they run), PID recorded at once.
spawn() { # spawn NAME BINARY ARGS...
  local name=$1 pid; shift
  setsid "$@" </dev/null >"$log_dir/$name.log" 2>&1 9>&- &
  pid=$!
  echo "$pid" >"$pid_dir/$name"
  # $! is the forked shell until it execs the binary; wait (briefly) for that exec.
  for _ in $(seq 50); do
    pid_matches "$pid" "$name" "$state_dir/" && return 0
    [ -e "/proc/$pid" ] || break
    sleep 0.1
  done
  show_log "$log_dir/$name.log"
  die "$name did not start"
}

spawn etcd "$etcd_bin" --name default --data-dir "$state_dir/etcd" \
  --listen-client-urls "$etcd_url" --advertise-client-urls "$etcd_url" \
  --listen-peer-urls "http://127.0.0.1:$etcd_peer_port" \
  --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
  --initial-cluster "default=http://127.0.0.1:$etcd_peer_port" \
  --unsafe-no-fsync --log-level warn

spawn kube-apiserver "$apiserver_bin" \
  --etcd-servers "$etcd_url" \
  --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \
  --tls-cert-file "$pki_dir/apiserver.crt" --tls-private-key-file "$pki_dir/apiserver.key" \
  --client-ca-file "$pki_dir/client-ca.crt" \
  --authorization-mode RBAC \
  --service-account-issuer https://kubernetes.default.svc.cluster.local \
  --service-account-key-file "$pki_dir/sa.pub" \
  --service-account-signing-key-file "$pki_dir/sa.key" \
  --service-cluster-ip-range 10.0.0.0/24 \
  --disable-admission-plugins ServiceAccount \
  --endpoint-reconciler-type none \
  --cert-dir "$pki_dir/apiserver-generated" \
  --profiling=false

# ---- PostgreSQL, while the API server boots. Its files must be reachable by the `postgres`
# user and its socket path short (108 bytes max); when the state directory is not (e.g. under
# /root or a 0700 pytest temp dir), the files live in /tmp and pg/ is a symlink to them.
pg_home="$state_dir/pg"
if [ "$(id -u)" = 0 ] && { ! runuser -u postgres -- test -x "$state_dir" 2>/dev/null || [ ${#pg_home} -gt 80 ]; }; then
  ln -s "$(mktemp -d /tmp/dbindex-pg.XXXXXXXX)" "$pg_home"
else
  mkdir -p "$pg_home"
fi
pg_real=$(pg_root)
mkdir -p "$pg_real/run"
[ "$(id -u)" != 0 ] || chown -R postgres: "$pg_real"
chmod 700 "$pg_real"
ln -sf "$pg_real/postgres.log" "$log_dir/postgres.log"
as_pg "$PG_BINDIR/initdb" -D "$pg_real/data" -U postgres -A trust --no-sync -E UTF8 \
  --locale C >"$log_dir/initdb.log" 2>&1 || { show_log "$log_dir/initdb.log"; die "initdb failed"; }
if ! as_pg "$PG_BINDIR/pg_ctl" -D "$pg_real/data" -w -t 60 -l "$pg_real/postgres.log" \
     -o "-p $pg_port -k $pg_real/run -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=$PG_FSYNC" \
     start >"$log_dir/pg_ctl.log" 2>&1 9>&-; then
  show_log "$log_dir/pg_ctl.log"; show_log "$pg_real/postgres.log"; die "PostgreSQL did not start"
fi
head -n1 "$pg_real/data/postmaster.pid" >"$pid_dir/postgres"

# ---- wait for health
wait_http etcd "$etcd_url/health" 30 "$(cat "$pid_dir/etcd")" ||
  { show_log "$log_dir/etcd.log"; die "etcd is not healthy"; }
wait_http kube-apiserver "$api_url/readyz" 120 "$(cat "$pid_dir/kube-apiserver")" \
    "$pki_dir/serving-ca.crt" "$pki_dir/admin.crt" "$pki_dir/admin.key" ||
  { show_log "$log_dir/kube-apiserver.log"; die "kube-apiserver is not ready"; }

spawn kube-controller-manager "$kcm_bin" \
  --kubeconfig "$pki_dir/kube-controller-manager.kubeconfig" \
  --controllers namespace-controller,garbage-collector-controller,serviceaccount-controller \
  --secure-port 0 --leader-elect=false \
  --use-service-account-credentials=false \
  --service-account-private-key-file "$pki_dir/sa.key" \
  --root-ca-file "$pki_dir/serving-ca.crt"

pg_ok=
for _ in $(seq 60); do
  if "$pg_isready_bin" -q -h 127.0.0.1 -p "$pg_port" -t 2; then pg_ok=1; break; fi
  sleep 0.5
done
[ -n "$pg_ok" ] || { show_log "$log_dir/postgres.log"; die "PostgreSQL does not answer pg_isready"; }

# The serviceaccount controller creating default/default proves kube-controller-manager works.
kcm_ok=
for _ in $(seq 120); do
  live_pid kube-controller-manager >/dev/null || break
  if KUBECONFIG="$state_dir/kubeconfig" "$kubectl_bin" get serviceaccount default -n default \
       --request-timeout 5s >/dev/null 2>&1; then kcm_ok=1; break; fi
  sleep 0.5
done
[ -n "$kcm_ok" ] || { show_log "$log_dir/kube-controller-manager.log"; die "kube-controller-manager is not working (no default ServiceAccount after 60s)"; }

# ---- the sourceable env file, written last: its presence means "up".
ln -sfn "$kubectl_bin" "$state_dir/bin/kubectl"
[ ! -x "$helm_bin" ] || ln -sfn "$helm_bin" "$state_dir/bin/helm"
q() { printf '%q' "$1"; }
cat >"$state_dir/env.tmp" <<EOF
# Written by hack/up.sh; source it to use the local environment. Removed by hack/down.sh.
export DBINDEX_LOCAL_DIR=$(q "$state_dir")
export K8S_VERSION=$(q "$K8S_VERSION")
export KUBECONFIG=$(q "$state_dir/kubeconfig")
export DBINDEX_APISERVER_URL=$(q "$api_url")
export DBINDEX_CA_CERT=$(q "$pki_dir/serving-ca.crt")
export DBINDEX_ADMIN_CERT=$(q "$pki_dir/admin.crt")
export DBINDEX_ADMIN_KEY=$(q "$pki_dir/admin.key")
export DBINDEX_ETCD_URL=$(q "$etcd_url")
export PGURL=$(q "postgresql://postgres@127.0.0.1:$pg_port/postgres")
export PGHOST=127.0.0.1 PGPORT=$pg_port PGUSER=postgres
export PG_BINDIR=$(q "$PG_BINDIR")
export PG_VERSION=$(q "$PG_VERSION")
export PATH=$(q "$state_dir/bin"):"\$PATH"
EOF
echo "$config" >"$state_dir/config"
mv "$state_dir/env.tmp" "$state_dir/env"
started_ok=1
summary "is up"
