#!/usr/bin/env bash
# Print the directory holding prometheus-operator's CRD manifests (PodMonitor, PrometheusRule,
# ServiceMonitor, ...) at a pinned version, fetched once per machine through the Go module proxy
# (the module github.com/prometheus-operator/prometheus-operator carries them in
# example/prometheus-operator-crd/) and cached in $TOOLS_CACHE like the built tools. The tests
# install them into the local API server to dry-run deploy/monitoring/ and the chart's
# monitoring templates against the real schemas.
#
#   kubectl apply --server-side -f "$(hack/monitoring-crds.sh)/monitoring.coreos.com_podmonitors.yaml"
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"
module=github.com/prometheus-operator/prometheus-operator

out="$TOOLS_CACHE/prometheus-operator-crds/$PROMETHEUS_OPERATOR_VERSION"
if [ ! -f "$out/.ready" ]; then
  printf '[monitoring-crds] fetching %s@%s (first run on this machine only)\n' \
    "$module" "$PROMETHEUS_OPERATOR_VERSION" >&2
  mkdir -p "$TOOLS_CACHE"
  # Outside any module (the cache directory), so no go.mod is read or changed.
  dir=$(cd "$TOOLS_CACHE" && CGO_ENABLED=0 GOTOOLCHAIN=local GOWORK=off GOFLAGS=-mod=mod \
    go mod download -json "$module@$PROMETHEUS_OPERATOR_VERSION" |
    sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  [ -d "$dir/example/prometheus-operator-crd" ] || {
    echo "[monitoring-crds] $module@$PROMETHEUS_OPERATOR_VERSION has no example/prometheus-operator-crd/" >&2
    exit 1
  }
  rm -rf "$out.tmp"
  mkdir -p "$out.tmp"
  cp "$dir"/example/prometheus-operator-crd/*.yaml "$out.tmp/"
  chmod -R u+w "$out.tmp"  # the module cache is read-only
  touch "$out.tmp/.ready"
  rm -rf "$out"
  mv "$out.tmp" "$out"
fi
echo "$out"
