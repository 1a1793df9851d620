#!/usr/bin/env bash
# Build etcd, kube-apiserver, kube-controller-manager, kubectl and helm from Go modules through
# the Go module proxy, once per machine. Binaries land in $TOOLS_CACHE/bin/<name>-<version>;
# a binary that already exists is not rebuilt, so every later call returns at once.
#
# Why not `go install`: k8s.io/kubernetes replaces its k8s.io/* staging modules with local paths
# that exist only in its git tree, and etcd's server module does the same. A scratch module that
# requires them as dependencies (where replaces are ignored) builds both.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"

export CGO_ENABLED=0 GOTOOLCHAIN=local GOWORK=off GOFLAGS=-mod=mod
bin="$TOOLS_CACHE/bin"
mkdir -p "$bin"
k8s_minor=${K8S_VERSION#v1.}; k8s_minor=${k8s_minor%%.*}
staging_version="v0.${K8S_VERSION#v1.}"

log() { printf '[build-tools] %s\n' "$*" >&2; }

build_etcd() {
  local out="$bin/etcd-$ETCD_VERSION"
  [ -x "$out" ] && return 0
  local mod="$TOOLS_CACHE/src/etcd-$ETCD_VERSION"
  log "building etcd $ETCD_VERSION (first run on this machine only)"
  mkdir -p "$mod"
  ( cd "$mod"
    [ -f go.mod ] || go mod init dbindex-tools/etcd >/dev/null 2>&1
    go get -tool "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >/dev/null
    go build -trimpath -ldflags "-s -w" -o "$out.tmp" go.etcd.io/etcd/server/v3 )
  mv "$out.tmp" "$out"
}

k8s_module() {
  # A scratch module that pins every staging module to its tagged release.
  local mod="$TOOLS_CACHE/src/k8s-$K8S_VERSION"
  if [ ! -f "$mod/.ready" ]; then
    mkdir -p "$mod"
    ( cd "$mod"
      [ -f go.mod ] || go mod init dbindex-tools/k8s >/dev/null 2>&1
      upstream=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
      for m in $(sed -n 's#^\s*\(k8s.io/[^ ]*\) => ./staging/src/.*#\1#p' "$upstream"); do
        go mod edit "-replace=$m=$m@$staging_version"
      done
      godebug=$(sed -n 's/^godebug \(.*\)/\1/p' "$upstream")
      [ -z "$godebug" ] || go mod edit "-godebug=$godebug"
      go get -tool "k8s.io/kubernetes/cmd/kube-apiserver@$K8S_VERSION" \
        "k8s.io/kubernetes/cmd/kube-controller-manager@$K8S_VERSION" \
        "k8s.io/kubernetes/cmd/kubectl@$K8S_VERSION" >/dev/null
      touch .ready )
  fi
  echo "$mod"
}

build_k8s() {
  local name=$1 out="$bin/$1-$K8S_VERSION"
  [ -x "$out" ] && return 0
  local mod; mod=$(k8s_module)
  log "building $name $K8S_VERSION (first run on this machine only)"
  # Without version stamps the server says v0.0.0-master and clients refuse to parse it.
  local ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags="$ldflags -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$k8s_minor"
    ldflags="$ldflags -X $pkg.gitTreeState=clean"
  done
  ( cd "$mod" && go build -trimpath -tags selinux,notest,grpcnotrace -ldflags "$ldflags" \
      -o "$out.tmp" "k8s.io/kubernetes/cmd/$name" )
  mv "$out.tmp" "$out"
}

build_helm() {
  local out="$bin/helm-$HELM_VERSION"
  [ -x "$out" ] && return 0
  log "building helm $HELM_VERSION (first run on this machine only)"
  GOBIN="$TOOLS_CACHE/src/helm-gobin" go install -trimpath \
    -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  mv "$TOOLS_CACHE/src/helm-gobin/helm" "$out"
}

want=${*:-etcd kube-apiserver kube-controller-manager kubectl helm}
for t in $want; do
  case $t in
    etcd) build_etcd ;;
    kube-apiserver|kube-controller-manager|kubectl) build_k8s "$t" ;;
    helm) build_helm ;;
    *) log "unknown tool $t"; exit 2 ;;
  esac
done
