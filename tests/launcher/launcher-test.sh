#!/usr/bin/env bash
# launcher-test.sh — checks ./effiseg in the checkout it belongs to, once `mvn package` (or
# verify) has built target/effiseg.jar; .ci/run runs it after the test suite (~1 min, most of
# it the one rebuild). From another folder the launcher runs the fresh jar without building and
# passes the CLI's exit codes through; a source newer than the jar makes it build, once; a
# failing build is reported with the log's lines and exit 1; a missing tool is named.
set -uo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
launcher=$repo/effiseg
passed=0
failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

# check NAME COMMAND...: one result line per check
check() {
  local name=$1
  shift
  if "$@"; then
    passed=$((passed + 1))
    echo "launcher: ok      $name"
  else
    failed=$((failed + 1))
    echo "launcher: FAILED  $name"
    sed 's/^/    stderr: /' "$tmp/err" | tail -n 20
  fi
}
run() { # run ARGS...: the launcher from $tmp; stdout, stderr, exit code in $tmp/{out,err,rc}
  "$launcher" "$@" > "$tmp/out" 2> "$tmp/err"
  echo $? > "$tmp/rc"
}
rc_is() { [ "$(cat "$tmp/rc")" = "$1" ]; }
err_has() { grep -q -- "$1" "$tmp/err"; }
out_has() { grep -q -- "$1" "$tmp/out"; }
no_build() { ! err_has "effiseg: building target/effiseg.jar (log"; }

[ -f "$repo/target/effiseg.jar" ] || { echo "launcher-test: build target/effiseg.jar first (mvn package)"; exit 1; }

run --version
check "fresh jar: runs from another folder without building" eval 'rc_is 0 && out_has effiseg && no_build'
run no-such-command
check "passes the CLI's usage-error exit code (2) through" eval 'rc_is 2 && err_has no-such-command && no_build'

touch "$repo/java-resources"  # a source (folder) newer than the jar
mkdir "$tmp/bin"
for tool in bash env java javac cmake make g++ find readlink dirname flock mkdir touch grep head tail cat; do
  ln -s "$(command -v "$tool")" "$tmp/bin/$tool"
done
PATH=$tmp/bin run --version
check "stale jar without mvn on PATH: names mvn, exit 1" eval \
  'rc_is 1 && err_has "mvn is not installed" && no_build'

EFFISEG_MVN_ARGS=--no-such-maven-option run --version
check "failing build: shows Maven's complaint and the log, exit 1" eval \
  'rc_is 1 && err_has no-such-maven-option && err_has "the build failed; the whole log is"'

run --version
check "stale jar: builds, then runs" eval 'rc_is 0 && err_has "building target/effiseg.jar" && out_has effiseg'
run --version
check "after the build: runs without building again" eval 'rc_is 0 && no_build'

echo "launcher: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
