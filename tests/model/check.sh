#!/usr/bin/env bash
# Checks the notify/rename protocol model (notify.pml) with spin and asserts
# the expected verdict of every variant. One PASS/FAIL line per check; exits
# non-zero on any unexpected outcome. Needs spin and gcc (Debian: spin, gcc).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
for tool in spin gcc timeout; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is not installed (apt-get install -y spin gcc)"; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/notify-model.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
cp "$here/notify.pml" .   # pan and its trail files are written here

failures=0
fail() { echo "FAIL $1: $2"; failures=$((failures + 1)); }

# check NAME MODE EXPECT DEFINES...
#   MODE    safety   : invalid end states + assertions, exhaustive (pan -DSAFETY)
#           liveness : the ltl claim "done" with weak fairness (pan -a -f)
#   EXPECT  clean, or the error pan must report: "invalid end state",
#           "assertion violated", "acceptance cycle"
# Leaves the replayed trail (if any) in replay.txt.
check() {
  local name=$1 mode=$2 expect=$3; shift 3
  local defines=("$@") cflags run out errors states
  rm -f pan pan.* notify.pml.trail replay.txt
  if [ "$mode" = safety ]; then
    cflags=(-DSAFETY -DNOCLAIM); run=(./pan -m100000)
  else
    cflags=(-DNFAIR=3); run=(./pan -a -f -m100000)
  fi
  if ! timeout 30 spin -a "${defines[@]}" notify.pml >spin.log 2>&1; then
    fail "$name" "spin -a ${defines[*]}: $(head -3 spin.log)"; return 1
  fi
  if ! timeout 60 gcc -O0 -w "${cflags[@]}" -o pan pan.c 2>gcc.log; then
    fail "$name" "gcc: $(head -3 gcc.log)"; return 1
  fi
  out=$(timeout 60 "${run[@]}" 2>&1); local rc=$?
  if [ $rc -eq 124 ]; then fail "$name" "pan timed out"; return 1; fi
  errors=$(sed -n 's/.*errors: \([0-9][0-9]*\).*/\1/p' <<<"$out" | head -1)
  states=$(grep -oE '[0-9.e+]+ states, stored' <<<"$out" | head -1)
  if [ -z "$errors" ]; then
    fail "$name" "pan gave no verdict"; tail -5 <<<"$out"; return 1
  fi
  if grep -qE 'max search depth too small|out of memory' <<<"$out"; then
    fail "$name" "the search was incomplete"; grep -E 'depth|memory' <<<"$out"; return 1
  fi
  if [ "$expect" = clean ]; then
    if [ "$errors" = 0 ]; then
      echo "PASS $name: no errors, exhaustive ($states)"; return 0
    fi
    fail "$name" "expected no errors, pan said:"; grep -E '^pan:|errors:' <<<"$out" | head -5; return 1
  fi
  if [ "$errors" = 0 ] || ! grep -q "pan:1: $expect" <<<"$out"; then
    fail "$name" "expected \"$expect\", pan said:"; grep -E '^pan:|errors:' <<<"$out" | head -5; return 1
  fi
  timeout 30 spin -t -g "${defines[@]}" notify.pml >replay.txt 2>&1
  echo "PASS $name: spin found the expected $expect ($(grep -oE 'at depth [0-9]+' <<<"$out" | head -1))"
}

# trail_shows NAME REGEX... : the replayed counterexample's final state
# matches every REGEX (so the error found is the one we mean).
trail_shows() {
  local name=$1 re; shift
  for re in "$@"; do
    if ! tail -40 replay.txt | grep -qE -- "$re"; then
      fail "$name" "the counterexample does not show /$re/:"; tail -25 replay.txt; return 1
    fi
  done
  echo "PASS $name"
}

# The WinFsp cycle: the counter holds the resource shared, the renamer is a
# queued exclusive waiter, the worker holds nothing and is stuck outside its
# idle end label (so in its shared acquire, its only other blocking step),
# and an END sits in the queue behind it.
deadlock_signature=(
  'held\[1\] = 1$' 'held\[2\] = 0$' 'xwaiters = 1$' 'queue 1 \(work\): .*\[END\]' 'renamed = 0$'
  '\(Worker:1\) notify.pml:[0-9]+ \(state [0-9]+\)$' '\(Renamer:1\) notify.pml:[0-9]+ \(state [0-9]+\)$'
)

echo "== safety: invalid end states and assertions (mutual exclusion, ownership, session counter)"
check "plain shared acquire in the worker: deadlock" safety "invalid end state" &&
  trail_shows "  ... and it is the WinFsp cycle (renamer queued, worker behind it, END unprocessed)" \
    "${deadlock_signature[@]}"
check "plain acquire + session-level writer priority: still deadlocks" safety "invalid end state" \
  -DSESSION_PRIORITY &&
  trail_shows "  ... the same cycle: session priority alone does not break it" "${deadlock_signature[@]}"
check "starve-exclusive worker: no deadlock" safety clean -DSTARVE
check "starve-exclusive + session-level writer priority: no deadlock" safety clean \
  -DSTARVE -DSESSION_PRIORITY
check "nested begin always joins without session priority" safety clean -DSTARVE -DNESTED_MUST_JOIN
check "nested begin times out while a rename is queued (session priority, documented)" safety \
  "assertion violated" -DSTARVE -DSESSION_PRIORITY -DNESTED_MUST_JOIN &&
  trail_shows "  ... its own session holds the resource and the rename waits for it" \
    'held\[1\] = 1$' 'xwaiters = 1$'

echo "== liveness: <> (renamed && name_op_done) under weak fairness"
check "one-shot sessions, starve-exclusive: the rename completes" liveness clean -DSTARVE
check "endless overlapping sessions, no session priority: renames starve" liveness \
  "acceptance cycle" -DSTARVE -DLOOP &&
  trail_shows "  ... the cycle keeps the session open over the queued rename" \
    'held\[1\] = 1$' 'xwaiters = 1$' 'renamed = 0$'
check "endless overlapping sessions, session priority: the rename completes" liveness clean \
  -DSTARVE -DLOOP -DSESSION_PRIORITY

if [ "$failures" -ne 0 ]; then
  echo "FAIL: $failures unexpected outcome(s)"
  exit 1
fi
echo "PASS: all notify model checks gave the expected verdicts"
