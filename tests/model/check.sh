#!/usr/bin/env bash
# Checks the notify/rename protocol model with spin and asserts the expected
# outcome of each variant. Exits non-zero on any unexpected result.
set -euo pipefail
model=$(cd "$(dirname "$0")" && pwd)/notify.pml
command -v spin >/dev/null || { echo "FAIL: spin is not installed (apt-get install spin)"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
failures=0

# verify NAME EXPECT SPIN_FLAGS PAN_CC_FLAGS PAN_RUN_FLAGS
# EXPECT is "clean" (no errors) or a pattern that pan's output must contain.
verify() {
  local name=$1 expect=$2 spin_flags=$3 cc_flags=$4 run_flags=$5 out
  spin -a $spin_flags "$model" >spin.log 2>&1 || { echo "FAIL $name: spin -a: $(cat spin.log)"; failures=$((failures + 1)); return; }
  gcc -O2 $cc_flags -o pan pan.c 2>gcc.log || { echo "FAIL $name: gcc: $(head -3 gcc.log)"; failures=$((failures + 1)); return; }
  out=$(timeout 120 ./pan $run_flags 2>&1) || true
  local errors
  errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' <<<"$out" | head -1)
  if [ -z "$errors" ]; then
    echo "FAIL $name: pan gave no verdict"; echo "$out" | tail -5; failures=$((failures + 1))
  elif [ "$expect" = clean ] && [ "$errors" = 0 ]; then
    echo "PASS $name: no errors ($(grep -o '[0-9]* states, stored' <<<"$out"))"
  elif [ "$expect" != clean ] && [ "$errors" != 0 ] && grep -q "$expect" <<<"$out"; then
    echo "PASS $name: spin found the expected $expect"
  else
    echo "FAIL $name: expected ${expect}, pan said:"; echo "$out" | grep -E 'errors|pan:' | head -5
    failures=$((failures + 1))
  fi
}

# Safety: deadlocks (invalid end states) and assertion violations.
verify "plain shared acquire in the worker deadlocks" "invalid end state" "" "-DSAFETY -DNOCLAIM" "-m100000"
verify "starve-exclusive worker is deadlock-free" clean "-DSTARVE" "-DSAFETY -DNOCLAIM" "-m100000"
verify "with session-level writer priority too" clean "-DSTARVE -DSESSION_PRIORITY" "-DSAFETY -DNOCLAIM" "-m100000"
# Liveness under weak fairness, with clients opening sessions forever.
verify "overlapping sessions can starve renames without session priority" "acceptance cycle" \
  "-DSTARVE -DLOOP" "-DNFAIR=4" "-a -f -m100000 -N rename_completes"
verify "every rename completes with session priority" clean \
  "-DSTARVE -DLOOP -DSESSION_PRIORITY" "-DNFAIR=4" "-a -f -m100000 -N rename_completes"

if [ "$failures" -ne 0 ]; then echo "$failures check(s) failed"; exit 1; fi
echo "all model checks passed"
