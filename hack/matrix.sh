#!/usr/bin/env bash
# Run the end-to-end suite (tests/e2e) once per combination of hack/matrix.env, one after the
# other, each in an environment of its own (its own DBINDEX_LOCAL_DIR, started and stopped here);
# print a table (combination, passed, failed, skipped, duration) and write it to
# $MATRIX_DIR/results.md. Exits 1 when any combination had a failure or could not start.
#
# The version-dependent tests (tests/e2e/test_compat.py) run first, then the rest of tests/e2e.
# MATRIX_ONLY='v1.36.3 PG_VERSION=15' runs only the combinations whose line contains every one
# of the words ('PG_VERSION=15': every Kubernetes version); MATRIX_SKIP='test_bench.py
# test_demo.py' leaves those files of tests/e2e out; MATRIX_PYTEST_ARGS passes options to pytest
# (e.g. '-k crd'); MATRIX_DIR (default /tmp/dbindex-matrix) holds each run's state directory,
# pytest log and junit report.
# Tool builds and PostgreSQL installs are cached per version (hack/build-tools.sh,
# hack/install-pg.sh): the first run of a new version builds it.
set -uo pipefail
hack_dir=$(cd "$(dirname "$0")" && pwd)
repo_root=$(cd "$hack_dir/.." && pwd)
matrix_dir=${MATRIX_DIR:-/tmp/dbindex-matrix}
python=${VENV_PYTHON:-$repo_root/.venv/bin/python}
mkdir -p "$matrix_dir"
say() { printf '[matrix] %s\n' "$*" >&2; }

# test_compat.py first (pytest keeps the order of files named one by one, not of a directory).
# MATRIX_FILES='test_crd.py test_build.py' runs those files only (after test_compat.py).
tests=(tests/e2e/test_compat.py)
for file in "$repo_root"/tests/e2e/test_*.py; do
  [ -z "${MATRIX_FILES:-}" ] || case " ${MATRIX_FILES} " in *" ${file##*/} "*) ;; *) continue ;; esac
  case " test_compat.py ${MATRIX_SKIP:-} " in *" ${file##*/} "*) continue ;; esac
  tests+=("tests/e2e/${file##*/}")
done

rows="$matrix_dir/rows.tsv"
: >"$rows"
status=0
while read -r line; do
  case $line in ''|'#'*) continue ;; esac
  if [ -n "${MATRIX_ONLY:-}" ]; then
    hit=1
    for word in $MATRIX_ONLY; do case $line in *"$word"*) ;; *) hit= ;; esac; done
    [ -n "$hit" ] || continue
  fi
  k8s= pg=
  for pair in $line; do
    case $pair in K8S_VERSION=*) k8s=${pair#*=} ;; PG_VERSION=*) pg=${pair#*=} ;; esac
  done
  name="k8s-${k8s#v}-pg-$pg"
  dir="$matrix_dir/$name"
  say "== $name ($(date -u +%H:%M:%S) UTC)"
  start=$SECONDS
  rm -f "$dir.junit.xml"
  if env K8S_VERSION="$k8s" PG_VERSION="$pg" PG_BINDIR= DBINDEX_LOCAL_DIR="$dir" \
       "$hack_dir/up.sh" >"$dir.up.log" 2>&1; then
    # shellcheck disable=SC2086
    (cd "$repo_root" && env DBINDEX_LOCAL_DIR="$dir" K8S_VERSION="$k8s" PG_VERSION="$pg" \
       "$python" -m pytest "${tests[@]}" -q -rfE -p no:cacheprovider \
       --junitxml="$dir.junit.xml" ${MATRIX_PYTEST_ARGS:-}) >"$dir.pytest.log" 2>&1
    rc=$?
    tail -n 3 "$dir.pytest.log" >&2
  else
    rc=up
    say "hack/up.sh failed: $dir.up.log"
    tail -n 5 "$dir.up.log" >&2
  fi
  env K8S_VERSION="$k8s" PG_VERSION="$pg" PG_BINDIR= DBINDEX_LOCAL_DIR="$dir" \
    "$hack_dir/down.sh" >>"$dir.up.log" 2>&1 || say "hack/down.sh failed for $name"
  [ "$rc" = 0 ] || status=1
  printf '%s\t%s\t%s\t%s\t%s\n' "${k8s#v}" "$pg" "$rc" "$((SECONDS - start))" "$dir.junit.xml" >>"$rows"
done <"$hack_dir/matrix.env"

"$python" - "$rows" "$matrix_dir/results.md" <<'PY'
import sys, xml.etree.ElementTree as ET
rows, out = sys.argv[1], sys.argv[2]
lines = [
    "| Kubernetes | PostgreSQL | passed | failed | skipped | duration |",
    "|---|---|---|---|---|---|",
]
for row in open(rows):
    k8s, pg, rc, seconds, junit = row.rstrip("\n").split("\t")
    try:
        suite = ET.parse(junit).getroot()
        suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
        total, skipped = int(suite.get("tests")), int(suite.get("skipped"))
        failed = int(suite.get("failures")) + int(suite.get("errors"))
        passed = str(total - failed - skipped)
        failed_text, skipped_text = str(failed), str(skipped)
    except (OSError, ET.ParseError, AttributeError, TypeError):
        passed, failed_text, skipped_text = "-", f"did not run ({rc})", "-"
    minutes, secs = divmod(int(seconds), 60)
    lines.append(f"| {k8s} | {pg} | {passed} | {failed_text} | {skipped_text} | {minutes}m{secs:02d}s |")
text = "\n".join(lines) + "\n"
open(out, "w").write(text)
print(text, end="")
PY
say "table written to $matrix_dir/results.md"
exit $status
