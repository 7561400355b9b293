# shellcheck shell=bash
# harness.sh: sourced by run.sh. Builds libfuse's examples against one side
# (Debian's libfuse, "ref", or LinFsp's libfuse3.so.3, "linfsp"), mounts them
# under a watchdog, records checks and tears everything down on exit.
#
# Globals the caller sets before sourcing: BUILD_DIR (the CMake build tree),
# GROUP (the example group), WORK (the group's output directory).

EXAMPLES=${LINFSP_FUSE_EXAMPLES_DIR:-/usr/share/doc/libfuse3-dev/examples}
LINFSP_LIBDIR=$BUILD_DIR/lib/linfsp
LINFSP_PCDIR=$LINFSP_LIBDIR/pkgconfig
# LINFSP_FUSE_REFERENCE_ONLY=1 builds the "linfsp" side against Debian's
# libfuse too: both sides then run on the real thing, which proves the
# harness and its expectations before LinFsp's library works.
REFERENCE_ONLY=${LINFSP_FUSE_REFERENCE_ONLY:-0}
# shellcheck disable=SC2034 # used by run.sh
SIDES=(ref linfsp)

# ---- checks ----------------------------------------------------------------

CHECKS=()  # "PASS|FAIL|SKIP<TAB>side<TAB>example<TAB>what<TAB>detail"

# check SIDE EXAMPLE WHAT STATUS [DETAIL]: records one check; STATUS 0 passes.
check() {
  local side=$1 example=$2 what=$3 status=$4 detail=${5:-}
  local verdict=PASS
  [ "$status" = 0 ] || verdict=FAIL
  CHECKS+=("$verdict"$'\t'"$side"$'\t'"$example"$'\t'"$what"$'\t'"$detail")
  if [ "$verdict" = PASS ]; then
    echo "  PASS $side $example: $what"
  else
    echo "  FAIL $side $example: $what${detail:+ -- $detail}"
  fi
}

# skip SIDE EXAMPLE WHAT REASON: records a check that could not be observed.
skip() {
  CHECKS+=("SKIP"$'\t'"$1"$'\t'"$2"$'\t'"$3"$'\t'"$4")
  echo "  SKIP $1 $2: $3 -- $4"
}

# cache_drops: how often the page cache or the dentry and inode caches were
# dropped machine-wide (echo N >/proc/sys/vm/drop_caches; fsp-compat's
# handles group does it). A check that a cache is kept, or that only a
# notification refreshes it, observes nothing while this changes.
cache_drops() {
  awk '$1 == "drop_pagecache" || $1 == "drop_slab" { n += $2 } END { print n + 0 }' /proc/vmstat
}

# expect_eq SIDE EXAMPLE WHAT ACTUAL EXPECTED
expect_eq() {
  if [ "$4" = "$5" ]; then check "$1" "$2" "$3" 0
  else check "$1" "$2" "$3" 1 "expected '$5', got '$4'"; fi
}

# Prints the per-check list and writes it to $WORK/report.txt; returns 1 if
# any check failed.
summarize() {
  local line verdict side example what detail failed passed skipped
  failed=$(printf '%s\n' "${CHECKS[@]}" | grep -c '^FAIL')
  passed=$(printf '%s\n' "${CHECKS[@]}" | grep -c '^PASS')
  skipped=$(printf '%s\n' "${CHECKS[@]}" | grep -c '^SKIP')
  {
    echo
    echo "==== $GROUP: results (ref = Debian's libfuse3, linfsp = LinFsp's libfuse3.so.3$(
      [ "$REFERENCE_ONLY" = 1 ] && echo '; LINFSP_FUSE_REFERENCE_ONLY=1: linfsp is Debian'"'"'s libfuse too'))"
    for line in "${CHECKS[@]}"; do
      IFS=$'\t' read -r verdict side example what detail <<<"$line"
      if [ "$verdict" = PASS ]; then
        printf 'PASS  %-6s %-22s %s\n' "$side" "$example" "$what"
      else
        printf '%s  %-6s %-22s %s%s\n' "$verdict" "$side" "$example" "$what" "${detail:+ -- $detail}"
      fi
    done
    echo "==== $GROUP: $passed passed, $failed failed$([ "$skipped" = 0 ] || echo ", $skipped skipped")"
  } | tee "$WORK/report.txt"
  [ "$failed" = 0 ] && [ "$passed" -gt 0 ]
}

# ---- building --------------------------------------------------------------

# pc_env SIDE: the environment under which pkg-config finds SIDE's fuse3.pc.
pc_env() {
  if [ "$1" = linfsp ] && [ "$REFERENCE_ONLY" != 1 ]; then
    echo "PKG_CONFIG_PATH=$LINFSP_PCDIR"
  else
    echo "PKG_CONFIG_PATH="
  fi
}

# The "preload" side runs ref's binaries with LD_LIBRARY_PATH=PRELOAD_LIBDIR:
# LinFsp's library directory, or with LINFSP_FUSE_REFERENCE_ONLY=1 one
# holding a copy of Debian's library (which proves the mechanism).
PRELOAD_LIBDIR=$LINFSP_LIBDIR

# A LinFsp library built with -DLINFSP_SANITIZE=ON needs the ASan runtime
# first in the (uninstrumented) examples that load it: SANITIZER_ENV preloads
# it. Leak checking is off there, since the examples' own allocations would
# count; every access error still aborts the example.
SANITIZER_ENV=()
if [ "$REFERENCE_ONLY" != 1 ] && [ -e "$LINFSP_LIBDIR/libfuse3.so.3" ]; then
  asan_runtime=$(ldd "$LINFSP_LIBDIR/libfuse3.so.3" | awk '$1 ~ /^libasan\.so/ { print $3 }')
  if [ -n "$asan_runtime" ]; then
    SANITIZER_ENV=("LD_PRELOAD=$asan_runtime" "ASAN_OPTIONS=detect_leaks=0:abort_on_error=1")
  fi
fi

# side_env SIDE: the environment (NAME=VALUE words) SIDE's programs run with.
side_env() {
  [ "$1" = preload ] && echo "LD_LIBRARY_PATH=$PRELOAD_LIBDIR"
  if [ "$1" = linfsp ] || [ "$1" = preload ]; then
    [ "${#SANITIZER_ENV[@]}" = 0 ] || printf '%s\n' "${SANITIZER_ENV[@]}"
  fi
  return 0
}


# expected_lib SIDE: the real path of the libfuse3.so.3 SIDE's builds load.
expected_lib() {
  if [ "$1" = preload ]; then
    readlink -f "$PRELOAD_LIBDIR/libfuse3.so.3"
  elif [ "$1" = linfsp ] && [ "$REFERENCE_ONLY" != 1 ]; then
    readlink -f "$LINFSP_LIBDIR/libfuse3.so.3"
  else
    readlink -f "$(env PKG_CONFIG_PATH= pkg-config --variable=libdir fuse3)/libfuse3.so.3"
  fi
}

# other_lib SIDE: the library SIDE must not load.
other_lib() {
  if [ "$1" = linfsp ] || [ "$1" = preload ]; then expected_lib ref; else readlink -f "$LINFSP_LIBDIR/libfuse3.so.3"; fi
}

# bin SIDE EXAMPLE: where build_example puts it.
bin() {
  if [ "$1" = preload ]; then echo "$WORK/ref/$2"; else echo "$WORK/$1/$2"; fi
}

# build_example SIDE EXAMPLE [client]: compiles EXAMPLE.c unchanged from
# $EXAMPLES as the examples' Makefile does, with SIDE's pkg-config flags,
# and checks which libfuse3.so.3 the binary loads (not for clients, which
# use no libfuse function). Returns 1 if the build failed.
build_example() {
  local side=$1 example=$2 client=${3:-} out cflags libs log
  out=$(bin "$side" "$example")
  log=$WORK/$side/$example.build.log
  mkdir -p "$WORK/$side"
  rm -f "$out"
  # shellcheck disable=SC2046 # word splitting of the pkg-config output is intended
  if ! cflags=$(env $(pc_env "$side") pkg-config --cflags fuse3) ||
     ! libs=$(env $(pc_env "$side") pkg-config --libs fuse3); then
    check "$side" "$example" "pkg-config fuse3 answers" 1
    return 1
  fi
  # shellcheck disable=SC2086 # flags are lists
  if ! ${CC:-cc} -Wall $cflags "$EXAMPLES/$example.c" -o "$out" $libs >"$log" 2>&1; then
    check "$side" "$example" "compiles and links" 1 "$(grep -m3 -E 'error|undefined' "$log" | tr '\n' ' ')"
    return 1
  fi
  if grep -q 'warning:' "$log"; then
    echo "  note: $side $example compiles with warnings: $(grep -m3 'warning:' "$log" | tr '\n' ' ')"
  fi
  check "$side" "$example" "compiles and links" 0
  [ -n "$client" ] && return 0
  local want got needed
  want=$(expected_lib "$side")
  got=$(ldd "$out" | awk '$1 == "libfuse3.so.3" { print $3 }')
  got=$(readlink -f "$got" 2>/dev/null || echo "$got")
  needed=$(readelf -d "$out" | grep -c 'NEEDED.*\[libfuse3\.so\.3\]')
  if [ "$got" = "$want" ] && [ "$needed" = 1 ]; then
    check "$side" "$example" "ldd/readelf: loads $want" 0
  else
    check "$side" "$example" "ldd/readelf: loads $want" 1 "NEEDED libfuse3.so.3: $needed, ldd resolves to '$got'"
    return 1
  fi
}

# ---- mounting ----------------------------------------------------------------

# All mounts, example processes and watchdogs this script started, for the
# EXIT trap; entries are removed once torn down.
declare -A MOUNT_PID=()      # mountpoint -> example PID
declare -A MOUNT_WATCHDOG=() # mountpoint -> watchdog PID
declare -A MOUNT_SIDE=() MOUNT_EXAMPLE=() MOUNT_LOG=()
TMPFS_MOUNTS=()
# fusectl is mounted on demand, by the watchdog (a subshell) too: the EXIT
# trap unmounts it if it was not mounted when this script started.
FUSECTL_WAS_MOUNTED=$(awk '$5 == "/sys/fs/fuse/connections" { print 1 }' /proc/self/mountinfo)
SCRATCH=$(mktemp -d /tmp/linfsp-fuse-examples.XXXXXX)

# mountinfo_line DIR: DIR's line in /proc/self/mountinfo (the last one),
# read without touching DIR, which may hang.
mountinfo_line() {
  awk -v d="$1" '$5 == d { line = $0 } END { if (line != "") print line }' /proc/self/mountinfo
}

is_fuse_mounted() {
  mountinfo_line "$1" | grep -q ' - fuse'
}

# abort_connection DIR: aborts DIR's FUSE connection through fusectl, so
# that no request on it can block anyone any longer.
abort_connection() {
  local devno major minor conn ctl=/sys/fs/fuse/connections
  devno=$(mountinfo_line "$1" | awk '{ print $3 }')
  [ -n "$devno" ] || return 0
  major=${devno%%:*}
  minor=${devno##*:}
  conn=$(( (major << 20) | minor ))
  if [ ! -e "$ctl/$conn/abort" ]; then
    mount -t fusectl fusectl "$ctl" 2>/dev/null
  fi
  if [ -w "$ctl/$conn/abort" ]; then
    echo 1 >"$ctl/$conn/abort" && echo "  watchdog: aborted FUSE connection $conn of $1"
  else
    echo "  watchdog: cannot abort FUSE connection $conn of $1" >&2
  fi
}

# watchdog DIR PID SECONDS: runs in the background; unless $DIR.stop appears
# within SECONDS, aborts the connection, unmounts lazily, kills PID and
# leaves $DIR.fired. It polls rather than sleeping long, so that nothing
# outlives it once it is told to stop.
watchdog() {
  local dir=$1 pid=$2 deadline=$(( $(date +%s) + $3 ))
  while [ ! -e "$dir.stop" ]; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "  watchdog: $dir still busy after $3 s" >&2
      touch "$dir.fired"
      abort_connection "$dir"
      umount -l "$dir" 2>/dev/null
      kill -KILL "$pid" 2>/dev/null
      return
    fi
    sleep 0.2
  done
}

# start_example SIDE EXAMPLE DIR SECONDS [ARGS...]: runs the example in the
# foreground mode (-f) on DIR (made here unless it exists) under a watchdog of
# SECONDS; waits until the mount appears and checks that the process maps
# SIDE's library. Returns 1 if it did not mount.
start_example() {
  local side=$1 example=$2 dir=$3 seconds=$4 pid
  shift 4
  [ -e "$dir" ] || mkdir -p "$dir"
  rm -f "$dir.stop" "$dir.fired"
  mkdir -p "$WORK/$side"
  local log=$WORK/$side/${dir##*/}.log  # kept after the run
  local -a environment
  mapfile -t environment < <(side_env "$side")
  # A crash leaves a core in $WORK/$side (with core_pattern "core"); the
  # subshell execs the example, so $! is the example's PID.
  (ulimit -c unlimited 2>/dev/null; cd "$WORK/$side" && exec env "${environment[@]}" "$(bin "$side" "$example")" -f "$@" "$dir") >"$log" 2>&1 &
  pid=$!
  MOUNT_PID[$dir]=$pid MOUNT_SIDE[$dir]=$side MOUNT_EXAMPLE[$dir]=$example MOUNT_LOG[$dir]=$log
  watchdog "$dir" "$pid" "$seconds" &
  MOUNT_WATCHDOG[$dir]=$!
  wait_for_mount "$side" "$example" "$dir" "$pid" "$(expected_lib "$side")" "$(other_lib "$side")"
}

# log_excerpt LOG: a sanitizer's summary or assertion if LOG has one, else its
# end, on one line.
log_excerpt() {
  local line
  line=$(grep -m1 -E 'SUMMARY: [A-Za-z]+Sanitizer|runtime error:|Assertion .* failed|terminate called' "$1" 2>/dev/null)
  if [ -n "$line" ]; then echo "$line (full log: $1)"; else tail -c 300 "$1" 2>/dev/null | tr '\n' ' '; fi
}

# wait_for_mount SIDE EXAMPLE DIR PID WANT_LIB AVOID_LIB
wait_for_mount() {
  local side=$1 example=$2 dir=$3 pid=$4 want=$5 avoid=$6
  for _ in $(seq 100); do
    is_fuse_mounted "$dir" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if ! is_fuse_mounted "$dir"; then
    check "$side" "$example" "mounts" 1 "no FUSE mount on $dir; log: $(log_excerpt "${MOUNT_LOG[$dir]}")"
    return 1
  fi
  check "$side" "$example" "mounts ($(mountinfo_line "$dir" | sed 's/.* - \([^ ]*\) .*/\1/'))" 0
  if grep -qF "$want" "/proc/$pid/maps" && { [ -z "$avoid" ] || [ "$avoid" = "$want" ] ||
                                               ! grep -qF "$avoid" "/proc/$pid/maps"; }; then
    check "$side" "$example" "/proc/PID/maps shows $want" 0
  elif ! kill -0 "$pid" 2>/dev/null; then
    check "$side" "$example" "/proc/PID/maps shows $want" 1 \
      "the example already exited; log: $(log_excerpt "${MOUNT_LOG[$dir]}")"
  else
    check "$side" "$example" "/proc/PID/maps shows $want" 1 \
      "mapped: $(grep -o '/[^ ]*libfuse3[^ ]*' "/proc/$pid/maps" | sort -u | tr '\n' ' ')"
  fi
}

# stop_example DIR [WANT_STATUS]: unmounts DIR (lazily if busy), waits for the
# example to exit and checks its exit status (0 unless WANT_STATUS says
# otherwise; "any" accepts every status) and that the watchdog did not fire.
stop_example() {
  local dir=$1 want=${2:-0} pid=${MOUNT_PID[$1]} status=
  local side=${MOUNT_SIDE[$1]} example=${MOUNT_EXAMPLE[$1]}
  if is_fuse_mounted "$dir"; then
    umount "$dir" 2>/dev/null || umount -l "$dir" 2>/dev/null
  fi
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  touch "$dir.stop"
  wait "${MOUNT_WATCHDOG[$dir]}" 2>/dev/null
  if [ -e "$dir.fired" ]; then
    wait "$pid" 2>/dev/null
    check "$side" "$example" "finishes before the watchdog fires" 1 "the connection was aborted, the example killed"
  elif kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null
    sleep 1
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    check "$side" "$example" "exits after the unmount" 1 "still running 10 s later; killed"
  else
    wait "$pid" 2>/dev/null
    status=$?
    if [ "$want" = any ] || [ "$status" = "$want" ]; then
      check "$side" "$example" "exits with status $want after the unmount" 0
    else
      local core=''
      [ "$status" -gt 128 ] && [ -e "$WORK/$side/core" ] && core="; core dump: $WORK/$side/core"
      check "$side" "$example" "exits with status $want after the unmount" 1 \
        "status $status; log: $(log_excerpt "${MOUNT_LOG[$dir]}")$core"
    fi
  fi
  if is_fuse_mounted "$dir"; then umount -l "$dir" 2>/dev/null; fi
  unset "MOUNT_PID[$dir]" "MOUNT_WATCHDOG[$dir]"
  rm -f "$dir.stop" "$dir.fired"
}

# mount_tmpfs DIR: a fresh tmpfs for a passthrough example to mirror.
mount_tmpfs() {
  mkdir -p "$1" && mount -t tmpfs -o mode=0777,size=1g linfsp-examples "$1" && TMPFS_MOUNTS+=("$1")
}

unmount_tmpfs() {
  umount "$1" 2>/dev/null || umount -l "$1" 2>/dev/null
  local i
  for i in "${!TMPFS_MOUNTS[@]}"; do [ "${TMPFS_MOUNTS[$i]}" = "$1" ] && unset "TMPFS_MOUNTS[$i]"; done
}

# The EXIT trap: every mount goes, every process this script started is
# killed by its PID, whether the checks passed or not.
cleanup() {
  local dir
  for dir in "${!MOUNT_PID[@]}"; do
    touch "$dir.stop"
    if is_fuse_mounted "$dir"; then
      abort_connection "$dir"
      umount -l "$dir" 2>/dev/null
    fi
    kill -KILL "${MOUNT_PID[$dir]}" 2>/dev/null
    wait "${MOUNT_PID[$dir]}" 2>/dev/null
    wait "${MOUNT_WATCHDOG[$dir]}" 2>/dev/null
  done
  for dir in "${TMPFS_MOUNTS[@]}"; do umount -l "$dir" 2>/dev/null; done
  if [ -z "$FUSECTL_WAS_MOUNTED" ] &&
     awk '$5 == "/sys/fs/fuse/connections" { found = 1 } END { exit !found }' /proc/self/mountinfo; then
    umount /sys/fs/fuse/connections 2>/dev/null
  fi
  rm -rf --one-file-system "$SCRATCH" 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# The whole group stays within BUDGET seconds (CTest's timeout is longer),
# so that the EXIT trap always gets to unmount: a client gets at most what is
# left of it.
DEADLINE=$((SECONDS + ${LINFSP_FUSE_EXAMPLES_BUDGET:-540}))

# run_client SECONDS [run_side SIDE] CMD...: runs a client command bounded
# in time; after "run_side SIDE", in SIDE's environment (for the examples'
# own programs).
run_client() {
  local seconds=$1 left=$((DEADLINE - SECONDS))
  [ "$left" -ge "$seconds" ] || seconds=$((left > 1 ? left : 1))
  shift
  local -a environment=()
  if [ "$1" = run_side ]; then
    mapfile -t environment < <(side_env "$2")
    shift 2
  fi
  timeout -k 2 "$seconds" env "${environment[@]}" "$@"
}
