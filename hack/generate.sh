#!/usr/bin/env bash
# make generate: write the generated copies of files whose one source lives elsewhere.
#
#   crds/*.yaml -> deploy/base/crds/              (kustomize reads no file outside its root)
#               -> charts/dbindex-operator/files/ (Helm reads no file outside the chart)
#   monitoring/alerts.yaml    -> deploy/monitoring/prometheusrule.yaml (wrapped in a PrometheusRule)
#                             -> charts/dbindex-operator/files/monitoring/alerts.yaml
#   monitoring/dashboard.json -> deploy/monitoring/grafana-dashboard.yaml (in a ConfigMap)
#                             -> charts/dbindex-operator/files/monitoring/dashboard.json (as is:
#                                JSON has no comments)
#
# Each copy is its source with one comment line on top saying so. Idempotent: a copy is written
# only when its content changes, and a generated copy whose source is gone is removed.
# tests/unit/test_generated.py fails while a committed copy differs from what this writes.
#
# Usage: hack/generate.sh [OUTPUT_ROOT]   (default: the repository; the test writes elsewhere)
set -euo pipefail

repo_root=$(cd "$(dirname "$0")/.." && pwd)
out_root=${1:-$repo_root}
targets=(deploy/base/crds charts/dbindex-operator/files)

header() { printf '# Generated from crds/%s: edit that file and run `make generate`.\n' "$1"; }

for dir in "${targets[@]}"; do
  mkdir -p "$out_root/$dir"
  for source in "$repo_root"/crds/*.yaml; do
    name=$(basename "$source")
    copy=$out_root/$dir/$name
    if ! cmp -s <(header "$name"; cat "$source") "$copy"; then
      { header "$name"; cat "$source"; } >"$copy"
      echo "generate: wrote $dir/$name"
    fi
  done
  for copy in "$out_root/$dir"/*.yaml; do
    [ -e "$copy" ] || continue
    name=$(basename "$copy")
    if [ ! -e "$repo_root/crds/$name" ] && head -n 1 "$copy" | grep -q '^# Generated from crds/'; then
      rm -- "$copy"
      echo "generate: removed $dir/$name (crds/$name is gone)"
    fi
  done
done

# -- monitoring/: alert rules and the Grafana dashboard -------------------------------------------

# write_copy PATH: stdin becomes PATH (under the output root) if that changes it.
write_copy() {
  local copy=$out_root/$1 content
  content=$(cat; echo x)  # the x keeps trailing newlines through $(...)
  content=${content%x}
  mkdir -p "$(dirname "$copy")"
  if ! cmp -s <(printf '%s' "$content") "$copy"; then
    printf '%s' "$content" >"$copy"
    echo "generate: wrote $1"
  fi
}
monitoring_header() {
  printf '# Generated from monitoring/%s: edit that file and run `make generate`.\n' "$1"
}

alerts=$repo_root/monitoring/alerts.yaml
dashboard=$repo_root/monitoring/dashboard.json
{
  monitoring_header alerts.yaml
  cat <<'YAML'
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: dbindex-operator
  namespace: dbindex-system
  labels:
    app.kubernetes.io/name: dbindex-operator
    app.kubernetes.io/part-of: dbindex-operator
spec:
YAML
  sed 's/^./  &/' "$alerts"
} | write_copy deploy/monitoring/prometheusrule.yaml
{
  monitoring_header dashboard.json
  cat <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata:
  name: dbindex-operator-dashboard
  namespace: dbindex-system
  labels:
    # The Grafana sidecar convention (kube-prometheus-stack, grafana chart): load this dashboard.
    grafana_dashboard: "1"
    app.kubernetes.io/name: dbindex-operator
    app.kubernetes.io/part-of: dbindex-operator
data:
  dbindex-operator.json: |
YAML
  sed 's/^./    &/' "$dashboard"
} | write_copy deploy/monitoring/grafana-dashboard.yaml
{ monitoring_header alerts.yaml; cat "$alerts"; } |
  write_copy charts/dbindex-operator/files/monitoring/alerts.yaml
write_copy charts/dbindex-operator/files/monitoring/dashboard.json <"$dashboard"
