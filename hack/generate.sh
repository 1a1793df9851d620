#!/usr/bin/env bash
# make generate: write the generated copies of files whose one source lives elsewhere.
#
#   crds/*.yaml -> deploy/base/crds/              (kustomize reads no file outside its root)
#               -> charts/dbindex-operator/files/ (Helm reads no file outside the chart)
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
