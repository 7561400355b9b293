#!/usr/bin/env bash
# run.sh BUILD_DIR GROUP [FSP_COMPAT]: libfuse's own examples, built unchanged
# from Debian's libfuse3-dev twice -- against Debian's libfuse3 ("ref") and
# against LinFsp's libfuse3.so.3 ("linfsp", through
# BUILD_DIR/lib/linfsp/pkgconfig) -- mounted and driven the same way. Every
# check runs on both sides; the output ends with a PASS/FAIL list, also
# written to BUILD_DIR/tests/fuse/examples/GROUP/report.txt.
#
# Groups: passthrough (passthrough, passthrough_fh, passthrough_ll under
# fsp-compat; LinFsp must pass every check libfuse passes), hello (hello,
# hello_ll, null), notify (notify_inval_entry, notify_inval_inode,
# notify_store_retrieve, invalidate_path), poll (poll + poll_client), ioctl
# (ioctl + ioctl_client), printcap, preload (binaries built against Debian's
# libfuse3 run on LinFsp's through LD_LIBRARY_PATH alone).
#
# Not covered: cuse + cuse_client (optional; they need /dev/cuse, and the
# test machine's kernel has CONFIG_CUSE unset) and hello_ll_uds (serves over
# a socket, not the kernel). Debian 12's libfuse3-dev (3.14) does not ship
# libfuse's C++ example passthrough_hp.cc, nor memfs_ll.cc (newer libfuse).
#
# Environment: LINFSP_FUSE_REFERENCE_ONLY=1 builds the linfsp side against
# Debian's libfuse too (proves the harness on the real thing); CC picks the
# compiler. Needs root (mounts, allow_other, fusectl); exits 77 without it.
set -uo pipefail

[ $# -ge 2 ] || { echo "usage: run.sh BUILD_DIR GROUP [FSP_COMPAT]" >&2; exit 2; }
BUILD_DIR=$(readlink -f "$1")
GROUP=$2
FSP_COMPAT=${3:-$BUILD_DIR/tests/compat/fsp-compat}
WORK=$BUILD_DIR/tests/fuse/examples/$GROUP
if [ "$(id -u)" != 0 ]; then
  echo "run.sh: mounting FUSE file systems with allow_other needs root; skipped"
  exit 77
fi
rm -rf "$WORK"
mkdir -p "$WORK"
# shellcheck source=harness.sh
. "$(dirname "$(readlink -f "$0")")/harness.sh"

if [ "$REFERENCE_ONLY" != 1 ] && [ ! -e "$LINFSP_LIBDIR/libfuse3.so.3" ]; then
  echo "run.sh: $LINFSP_LIBDIR/libfuse3.so.3 is not built (target fuse3)"
  check linfsp "(library)" "$LINFSP_LIBDIR/libfuse3.so.3 exists" 1 "build the fuse3 target"
  summarize
  exit 1
fi
if [ "$REFERENCE_ONLY" != 1 ]; then
  pc_libdir=$(PKG_CONFIG_PATH=$LINFSP_PCDIR pkg-config --variable=libdir fuse3)
  expect_eq linfsp "(pkg-config)" "PKG_CONFIG_PATH=$LINFSP_PCDIR finds LinFsp's fuse3.pc" \
    "$(readlink -f "$pc_libdir")" "$(readlink -f "$LINFSP_LIBDIR")"
fi

# ---- passthrough, passthrough_fh, passthrough_ll ----------------------------

# compat_run SIDE EXAMPLE: mounts EXAMPLE (mirroring a fresh tmpfs) and runs
# the whole of fsp-compat in it; leaves the verbose output in
# $WORK/SIDE/EXAMPLE.compat.
compat_run() {
  local side=$1 example=$2 src=$SCRATCH/$1-$2.src mnt=$SCRATCH/$1-$2.mnt dir
  local out=$WORK/$side/$example.compat
  : >"$out"
  : >"$out.retry"
  mount_tmpfs "$src" || { check "$side" "$example" "tmpfs for the mirrored tree" 1; return; }
  if [ "$example" = passthrough_ll ]; then
    start_example "$side" "$example" "$mnt" 240 -o "allow_other,source=$src" || { stop_example "$mnt" any; unmount_tmpfs "$src"; return; }
    dir=$mnt
  else
    start_example "$side" "$example" "$mnt" 240 -o allow_other || { stop_example "$mnt" any; unmount_tmpfs "$src"; return; }
    dir=$mnt$src  # passthrough and passthrough_fh mirror /
  fi
  local start=$SECONDS status
  run_client 220 "$FSP_COMPAT" "$dir" --verbose >"$out" 2>&1
  status=$?
  local summary
  summary=$(grep -E '^[0-9]+ passed' "$out" | tail -1)
  if [ "$status" = 0 ] || [ "$status" = 1 ]; then
    check "$side" "$example" "fsp-compat runs to completion ($summary, $((SECONDS - start)) s)" 0
  else
    check "$side" "$example" "fsp-compat runs to completion" 1 \
      "exit status $status: $(grep -m3 -E '^HANG|^fsp-compat' "$out" | tr '\n' ' ') $summary"
  fi
  if [ "$side" = linfsp ] && { [ "$status" = 0 ] || [ "$status" = 1 ]; }; then
    retry_missing "$example" "$dir"
  fi
  stop_example "$mnt"
  unmount_tmpfs "$src"
}

# passing FILE...: the checks that passed ("group file:line: expr"), once each.
passing() { cat "$@" 2>/dev/null | sed -n 's/^ok   //p' | sort -u; }

# Checks whose result on libfuse itself changes from run to run (seen with
# LINFSP_FUSE_REFERENCE_ONLY=1, libfuse on both sides): LinFsp is not
# required to pass them. "EXAMPLE<TAB>group file:line" each.
LIBFUSE_FLAKY=$'passthrough_ll\thandles.open_by_handle handles.cc:81:'
# (open_by_handle_at through passthrough_ll's lookup of an evicted inode:
# ESTALE or success, depending on what the kernel still caches.)

# missing_checks EXAMPLE: checks libfuse passed that LinFsp has not (so far),
# without the LIBFUSE_FLAKY ones.
missing_checks() {
  local flaky
  flaky=$(awk -F'\t' -v e="$1" '$1 == e { print $2 }' <<<"$LIBFUSE_FLAKY")
  comm -23 <(passing "$WORK/ref/$1.compat") \
           <(passing "$WORK/linfsp/$1.compat" "$WORK/linfsp/$1.compat.retry") |
    grep -vF "${flaky:-$'\x01'}"
}

# retry_missing EXAMPLE DIR: runs again (twice at most), on the same mount, each
# fsp-compat group in which LinFsp missed a check libfuse passed, so that a
# check that fails now and then on either library (handles.open_by_handle on
# passthrough_ll does) is not blamed on LinFsp. A check that passes only on
# the retry is listed as flaky.
retry_missing() {
  local example=$1 dir=$2 group groups attempt retry=$WORK/linfsp/$1.compat.retry
  : >"$retry"
  [ -s "$WORK/ref/$example.compat" ] || return 0
  for attempt in 1 2; do
    groups=$(missing_checks "$example" | awk '{ sub(/\[.*/, "", $1); print $1 }' | sort -u)
    # Many failing groups are no flakiness: do not spend the time.
    [ "$(wc -w <<<"$groups")" -le 10 ] || return 0
    for group in $groups; do
      echo "  retrying fsp-compat group $group on linfsp $example (attempt $attempt of 2)"
      run_client 120 "$FSP_COMPAT" "$dir" --verbose --filter "$group" >>"$retry" 2>&1
    done
  done
}

# explain_missing OUTPUT...: for each check named on stdin, its FAIL line's
# detail from the first OUTPUT that has one. A FAIL line is "FAIL " key ": "
# detail, and the key may itself contain ": ", so every split is tried.
explain_missing() {
  awk 'FILENAME == "-" { want[$0] = 1; order[++n] = $0; next }
       /^FAIL / {
         line = substr($0, 6)
         for (i = 1; (j = index(substr(line, i), ": ")) > 0; i += j + 1) {
           key = substr(line, 1, i + j - 2)
           if ((key in want) && !(key in why)) why[key] = substr(line, i + j + 1)
         }
       }
       END {
         for (k = 1; k <= n; k++)
           print "     " order[k] " -- " ((order[k] in why) ? why[order[k]] : "no result (the group did not get that far)")
       }' - "$@"
}

group_passthrough() {
  [ -x "$FSP_COMPAT" ] || { check "-" fsp-compat "$FSP_COMPAT is built" 1; return; }
  local example side
  for example in passthrough passthrough_fh passthrough_ll; do
    echo "== $example"
    for side in "${SIDES[@]}"; do
      build_example "$side" "$example" && compat_run "$side" "$example"
    done
    local ref=$WORK/ref/$example.compat ours=$WORK/linfsp/$example.compat
    if [ ! -s "$ref" ] || [ ! -s "$ours" ]; then continue; fi
    local nref missing extra flaky
    nref=$(passing "$ref" | wc -l)
    if [ "$nref" -lt 500 ]; then
      check ref "$example" "fsp-compat passes at least 500 checks on libfuse" 1 "only $nref"
    fi
    missing=$(missing_checks "$example")
    extra=$(comm -13 <(passing "$ref") <(passing "$ours") | wc -l)
    flaky=$(comm -23 <(passing "$ref") <(passing "$ours") | comm -12 - <(passing "$ours.retry"))
    if [ -n "$flaky" ]; then
      echo "  -- $example: flaky on LinFsp (failed, then passed on the retry):"
      sed 's/^/     /' <<<"$flaky"
    fi
    if [ -z "$missing" ]; then
      check linfsp "$example" "passes every fsp-compat check libfuse passes ($nref; $extra more)" 0
    else
      check linfsp "$example" "passes every fsp-compat check libfuse passes" 1 \
        "$(wc -l <<<"$missing") of $nref not passed, listed above and in $ours.missing"
      explain_missing "$ours.retry" "$ours" <<<"$missing" >"$ours.missing"
      echo "  -- $example: checks libfuse passes and LinFsp does not:"
      head -n 60 "$ours.missing"
      [ "$(wc -l <"$ours.missing")" -le 60 ] || echo "     ... $(( $(wc -l <"$ours.missing") - 60 )) more in $ours.missing"
    fi
    if [ "$extra" -gt 0 ]; then
      echo "  -- $example: checks LinFsp passes and libfuse does not:"
      comm -13 <(passing "$ref") <(passing "$ours") | sed 's/^/     /'
    fi
  done
}

# ---- hello, hello_ll, null ----------------------------------------------------

group_hello() {
  local side example mnt out
  for side in "${SIDES[@]}"; do
    for example in hello hello_ll; do
      echo "== $side $example"
      build_example "$side" "$example" || continue
      mnt=$SCRATCH/$side-$example
      if start_example "$side" "$example" "$mnt" 60; then
        check_hello "$side" "$example" "$mnt" hello "Hello World!"
      fi
      stop_example "$mnt"
      check_cli "$side" "$example"
    done
    # hello's own options go through fuse_opt_parse.
    mnt=$SCRATCH/$side-hello-opts
    if [ -x "$(bin "$side" hello)" ] && start_example "$side" hello "$mnt" 60 --name=greeting --contents="Hi there"; then
      expect_eq "$side" hello "--name=greeting --contents='Hi there': ls" "$(run_client 10 ls "$mnt" 2>&1)" greeting
      expect_eq "$side" hello "--name=greeting --contents='Hi there': cat greeting" \
        "$(run_client 10 cat "$mnt/greeting" 2>&1)" "Hi there"
      stop_example "$mnt"
    fi

    echo "== $side null"
    build_example "$side" null || continue
    mnt=$SCRATCH/$side-null.file
    : >"$mnt"  # null mounts on a regular file
    if start_example "$side" null "$mnt" 60; then
      expect_eq "$side" null "stat: regular file of 4 GiB, mode 0644" \
        "$(run_client 10 stat -c '%F %s %a' "$mnt" 2>&1)" "regular file 4294967296 644"
      out=$(run_client 20 dd if="$mnt" bs=64k count=16 status=none 2>&1 | wc -c)
      expect_eq "$side" null "reading the first MiB returns 1 MiB" "$out" 1048576
      out=$(run_client 20 dd if="$mnt" bs=64k count=16 status=none 2>&1 | tr -d '\0' | wc -c)
      expect_eq "$side" null "... all of it zeros" "$out" 0
      out=$(run_client 20 dd if="$mnt" bs=4096 skip=$(( (1 << 32) / 4096 - 1 )) count=2 status=none 2>/dev/null | wc -c)
      expect_eq "$side" null "reading across the 4 GiB end returns the last 4096 bytes" "$out" 4096
      run_client 20 dd if=/dev/urandom of="$mnt" bs=64k count=4 conv=notrunc status=none 2>/dev/null
      check "$side" null "writes of 256 KiB succeed" $?
      out=$(run_client 20 dd if="$mnt" bs=4096 count=1 status=none 2>&1 | tr -d '\0' | wc -c)
      expect_eq "$side" null "written data is discarded (reads still zero)" "$out" 0
    fi
    stop_example "$mnt"
  done
}

# check_cli SIDE EXAMPLE: --version and --help, which the examples answer
# with libfuse's own texts; options libfuse's help lists and SIDE's does not
# are noted.
check_cli() {
  local side=$1 example=$2 out status
  out=$(run_client 10 run_side "$side" "$(bin "$side" "$example")" --version 2>&1)
  status=$?
  if [ "$status" = 0 ] && grep -q '^FUSE library version 3\.' <<<"$out"; then
    check "$side" "$example" "--version: exit 0, 'FUSE library version 3.*'" 0
  else
    check "$side" "$example" "--version: exit 0, 'FUSE library version 3.*'" 1 "status $status: $(tr '\n' ' ' <<<"$out")"
  fi
  out=$(run_client 10 run_side "$side" "$(bin "$side" "$example")" --help 2>&1)
  status=$?
  if [ "$status" = 0 ] && grep -q '^usage:' <<<"$out" && grep -q -- '-o ' <<<"$out"; then
    check "$side" "$example" "--help: exit 0, usage and -o options" 0
  else
    check "$side" "$example" "--help: exit 0, usage and -o options" 1 "status $status: $(head -c 200 <<<"$out" | tr '\n' ' ')"
  fi
  grep -oE '^ +-o [][a-z_]+' <<<"$out" | tr -s ' ' | sort -u >"$WORK/$side/$example.help-options"
  if [ "$side" = linfsp ] && [ -s "$WORK/ref/$example.help-options" ]; then
    local missing
    missing=$(comm -23 "$WORK/ref/$example.help-options" "$WORK/linfsp/$example.help-options" | tr '\n' ',')
    [ -n "$missing" ] && echo "  note: $example --help on LinFsp does not list:$missing"
  fi
  return 0
}

# check_hello SIDE EXAMPLE MNT NAME CONTENT: what hello and hello_ll serve.
check_hello() {
  local side=$1 example=$2 mnt=$3 name=$4 content=$5 out
  expect_eq "$side" "$example" "ls shows '$name'" "$(run_client 10 ls "$mnt" 2>&1)" "$name"
  expect_eq "$side" "$example" "cat $name is '$content'" "$(run_client 10 cat "$mnt/$name" 2>&1)" "$content"
  expect_eq "$side" "$example" "stat $name: regular file, ${#content}+1 bytes, mode 0444" \
    "$(run_client 10 stat -c '%F %s %a' "$mnt/$name" 2>&1)" "regular file $(( ${#content} + 1 )) 444"
  out=$(run_client 10 sh -c "echo x >> '$mnt/$name'" 2>&1)
  case $out in
    *"Permission denied"*) check "$side" "$example" "opening $name for writing fails with EACCES" 0 ;;
    *) check "$side" "$example" "opening $name for writing fails with EACCES" 1 "got '$out'" ;;
  esac
  out=$(run_client 10 stat "$mnt/missing" 2>&1)
  case $out in
    *"No such file or directory"*) check "$side" "$example" "a missing name is ENOENT" 0 ;;
    *) check "$side" "$example" "a missing name is ENOENT" 1 "got '$out'" ;;
  esac
}

# ---- notify_inval_entry, notify_inval_inode, notify_store_retrieve, invalidate_path

# current_name MNT: the one name notify_inval_entry lists, once it can be
# looked up (it changes every second).
current_name() {
  local name
  for _ in 1 2 3 4 5; do
    name=$(run_client 10 ls "$1" 2>/dev/null)
    if [ -n "$name" ] && run_client 10 stat "$1/$name" >/dev/null 2>&1; then
      echo "$name"
      return 0
    fi
    sleep 0.2
  done
  return 1
}

# notify_inval_entry: "if you enable notifications you will be unable to stat
# the file as soon as the file system updates its name"; with --no-notify
# the kernel keeps the old name until the entry timeout (30 s here).
# --only-expire uses fuse_lowlevel_notify_expire_entry instead.
# run_inval_entry SIDE MODE ATTEMPT: returns 2 (recording nothing about the
# caches) to be run again when the caches were dropped machine-wide meanwhile
# (see cache_drops) or the result goes against the documentation, for
# ATTEMPT < 3; on the last attempt, a check the drops made unobservable is
# skipped.
run_inval_entry() {
  local side=$1 mode=$2 attempt=$3 mnt=$SCRATCH/$1-inval_entry$2 name newname gone='' err='' drops
  local -a opts=(--update-interval=1 --timeout=30)
  [ -n "$mode" ] && opts+=("$mode")
  start_example "$side" notify_inval_entry "$mnt" 60 "${opts[@]}" || { stop_example "$mnt" any; return; }
  drops=$(cache_drops)
  if ! name=$(current_name "$mnt"); then
    check "$side" notify_inval_entry "${mode:-(notify)}: the listed name can be looked up" 1
    stop_example "$mnt"
    return
  fi
  # Wait for the file system to rename it (ls is not cached).
  for _ in $(seq 30); do
    newname=$(run_client 10 ls "$mnt" 2>/dev/null)
    [ -n "$newname" ] && [ "$newname" != "$name" ] && break
    sleep 0.1
  done
  if [ "$newname" = "$name" ] || [ -z "$newname" ]; then
    check "$side" notify_inval_entry "${mode:-(notify)}: the name changes within 3 s" 1 "still '$newname'"
    stop_example "$mnt"
    return
  fi
  # The notification is sent right after the change; allow 1.5 s more.
  for _ in $(seq 15); do
    if ! err=$(run_client 10 stat "$mnt/$name" 2>&1 >/dev/null); then gone=1; break; fi
    sleep 0.1
  done
  local what detail=
  if [ "$mode" = --no-notify ]; then
    what="--no-notify: the old name stays cached after the change"
    [ -z "$gone" ] || detail="stat '$name' after the rename to '$newname': $err"
  else
    what="${mode:-(notify)}: stat of the old name fails once it changed"
    [ -n "$gone" ] || detail="'$name' still resolves 1.5 s after the rename to '$newname'"
  fi
  stop_example "$mnt"
  local dropped=''
  [ "$(cache_drops)" = "$drops" ] || dropped="the caches were dropped machine-wide meanwhile"
  if { [ -n "$detail" ] || [ -n "$dropped" ]; } && [ "$attempt" -lt 3 ]; then
    echo "  retrying $side notify_inval_entry ${mode:-(notify)}: ${dropped:-$detail}"
    return 2
  fi
  if [ -n "$dropped" ]; then
    skip "$side" notify_inval_entry "$what" "$dropped (3 attempts)"
  else
    check "$side" notify_inval_entry "$what" "$([ -z "$detail" ]; echo $?)" "$detail"
  fi
}

# reads_over_time MNT FILE: FILE's contents read 3 times, 1.1 s apart.
reads_over_time() {
  local i
  for i in 1 2 3; do
    run_client 10 cat "$1/$2" 2>&1 | tr '\n' '|'
    echo
    [ "$i" = 3 ] || sleep 1.1
  done
}

# current_time_example SIDE EXAMPLE: notify_inval_inode, notify_store_retrieve
# and invalidate_path serve current_time, "The current time is HH:MM:SS",
# kept in the page cache (keep_cache, long timeouts); with notifications a
# reader sees it change every second, with --no-notify it never changes.
current_time_example() {
  local side=$1 example=$2 mode attempt
  for mode in "" --no-notify; do
    for attempt in 1 2 3; do
      observe_current_time "$side" "$example" "$mode" "$attempt" && break
    done
  done
}

# observe_current_time SIDE EXAMPLE MODE ATTEMPT: one mount, three reads.
# Returns 1, recording nothing about the caches, if the caches were dropped
# machine-wide meanwhile and ATTEMPT < 3; on the last attempt such checks
# are skipped.
observe_current_time() {
  local side=$1 example=$2 mode=$3 attempt=$4 mnt=$SCRATCH/$1-$2$3 reads distinct drops
  local size1='' size2='' dropped=''
  start_example "$side" "$example" "$mnt" 60 --update-interval=1 $mode || { stop_example "$mnt" any; return 0; }
  drops=$(cache_drops)
  [ "$example" = invalidate_path ] && size1=$(run_client 10 stat -c %s "$mnt/growing" 2>&1)
  reads=$(reads_over_time "$mnt" current_time)
  [ "$example" = invalidate_path ] && size2=$(run_client 10 stat -c %s "$mnt/growing" 2>&1)
  # notify_store_retrieve asserts at exit that every retrieve was answered.
  stop_example "$mnt"
  if [ "$(cache_drops)" != "$drops" ]; then
    if [ "$attempt" -lt 3 ]; then
      echo "  note: caches were dropped machine-wide while reading; $side $example ${mode:-(notify)} once more"
      return 1
    fi
    dropped="the caches were dropped machine-wide during each of 3 attempts"
  fi
  distinct=$(sort -u <<<"$reads" | wc -l)
  if ! grep -qvE '^The current time is [0-9]{2}:[0-9]{2}:[0-9]{2}\|$' <<<"$reads"; then
    check "$side" "$example" "${mode:-(notify)}: current_time reads 'The current time is HH:MM:SS'" 0
  else
    check "$side" "$example" "${mode:-(notify)}: current_time reads 'The current time is HH:MM:SS'" 1 "$(tr '\n' ' ' <<<"$reads")"
  fi
  local -a checks=()  # "WHAT<TAB>STATUS<TAB>DETAIL"
  if [ -z "$mode" ]; then
    checks+=("(notify): a reader sees current_time change (3 reads, 1.1 s apart)"$'\t'"$([ "$distinct" -ge 2 ]; echo $?)"$'\t'"$(tr '\n' ' ' <<<"$reads")")
    if [ "$example" = invalidate_path ]; then
      checks+=("(notify): stat sees 'growing' grow"$'\t'"$([ "$size2" -gt "$size1" ] 2>/dev/null; echo $?)"$'\t'"size $size1 then $size2")
    fi
  else
    checks+=("--no-notify: current_time stays cached (3 reads, 1.1 s apart)"$'\t'"$([ "$distinct" = 1 ]; echo $?)"$'\t'"$(tr '\n' ' ' <<<"$reads")")
    if [ "$example" = invalidate_path ]; then
      checks+=("--no-notify: the size of 'growing' stays cached"$'\t'"$([ "$size2" = "$size1" ]; echo $?)"$'\t'"size $size1 then $size2")
    fi
  fi
  local line what status detail
  for line in "${checks[@]}"; do
    IFS=$'\t' read -r what status detail <<<"$line"
    if [ -n "$dropped" ]; then
      skip "$side" "$example" "$what" "$dropped"
    elif [ "$status" = 0 ]; then
      check "$side" "$example" "$what" 0
    else
      check "$side" "$example" "$what" 1 "$detail"
    fi
  done
  return 0
}

group_notify() {
  local side example
  for side in "${SIDES[@]}"; do
    echo "== $side notify_inval_entry"
    if build_example "$side" notify_inval_entry; then
      local mode attempt
      for mode in "" --only-expire --no-notify; do
        for attempt in 1 2 3; do
          run_inval_entry "$side" "$mode" "$attempt"
          [ $? = 2 ] || break
        done
      done
    fi
    for example in notify_inval_inode notify_store_retrieve invalidate_path; do
      echo "== $side $example"
      build_example "$side" "$example" && current_time_example "$side" "$example"
    done
  done
}

# ---- poll + poll_client ----------------------------------------------------------

# poll.c fills one byte into 1, 2 or 4 of its 16 files every 250 ms and
# notifies pollers; poll_client select()s on all 16 and reads whatever is
# ready, 16 times: each line of its output names the ready files with the
# byte counts read ("_:" for not ready).
group_poll() {
  local side mnt out lines
  for side in "${SIDES[@]}"; do
    echo "== $side poll"
    build_example "$side" poll || continue
    build_example "$side" poll_client client || continue
    mnt=$SCRATCH/$side-poll
    local mounted=
    if start_example "$side" poll "$mnt" 90; then
      mounted=1
      out=$(cd "$mnt" && run_client 60 run_side "$side" "$(bin "$side" poll_client)" 2>&1)
      local status=$?
      check "$side" poll "poll_client exits 0" "$status" "status $status$( [ "$status" = 124 ] && echo ' (timed out)'): $(tail -c 300 <<<"$out")"
      lines=$(grep -cE '^([_0-9A-F]:( ?[0-9]{2})? *)+$' <<<"$out")
      expect_eq "$side" poll "poll_client prints 16 rounds" "$lines" 16
      # Each select() returned something ready, and each ready file read >0 bytes.
      if [ "$(grep -cE '[0-9A-F]:[0-9]{2}' <<<"$out")" = 16 ] && ! grep -qE '[0-9A-F]:00' <<<"$out"; then
        check "$side" poll "every round finds a ready file with data" 0
      else
        check "$side" poll "every round finds a ready file with data" 1 "$(tr '\n' '/' <<<"$out")"
      fi
    fi
    stop_example "$mnt"
    [ -n "$mounted" ] || continue
    if grep -q '^NOTIFY' "$WORK/$side/${mnt##*/}.log"; then
      check "$side" poll "the file system sent poll notifications" 0
    else
      check "$side" poll "the file system sent poll notifications" 1 "no NOTIFY line in its output"
    fi
  done
}

# ---- ioctl + ioctl_client --------------------------------------------------------

# ioctl.c serves one file, fioc, whose size FIOC_GET_SIZE/FIOC_SET_SIZE read
# and set; ioctl_client FILE prints the size, ioctl_client FILE N sets it.
group_ioctl() {
  local side mnt client
  for side in "${SIDES[@]}"; do
    echo "== $side ioctl"
    build_example "$side" ioctl || continue
    build_example "$side" ioctl_client client || continue
    client=$(bin "$side" ioctl_client)
    mnt=$SCRATCH/$side-ioctl
    if start_example "$side" ioctl "$mnt" 60; then
      expect_eq "$side" ioctl "ls shows fioc" "$(run_client 10 ls "$mnt" 2>&1)" fioc
      expect_eq "$side" ioctl "FIOC_GET_SIZE of the new file is 0" "$(run_client 10 run_side "$side" "$client" "$mnt/fioc" 2>&1)" 0
      run_client 10 run_side "$side" "$client" "$mnt/fioc" 4096
      check "$side" ioctl "FIOC_SET_SIZE 4096 succeeds" $?
      expect_eq "$side" ioctl "FIOC_GET_SIZE then is 4096" "$(run_client 10 run_side "$side" "$client" "$mnt/fioc" 2>&1)" 4096
      run_client 10 run_side "$side" "$client" "$mnt/fioc" 7
      expect_eq "$side" ioctl "FIOC_SET_SIZE 7, FIOC_GET_SIZE is 7" "$(run_client 10 run_side "$side" "$client" "$mnt/fioc" 2>&1)" 7
      run_client 10 truncate -s 0 "$mnt/fioc"
      expect_eq "$side" ioctl "truncate -s 0, FIOC_GET_SIZE is 0" "$(run_client 10 run_side "$side" "$client" "$mnt/fioc" 2>&1)" 0
      run_client 10 sh -c "printf abc | dd of='$mnt/fioc' conv=notrunc status=none"
      check "$side" ioctl "writing 'abc' succeeds" $?
      expect_eq "$side" ioctl "FIOC_GET_SIZE after the write is 3" "$(run_client 10 run_side "$side" "$client" "$mnt/fioc" 2>&1)" 3
      expect_eq "$side" ioctl "cat fioc is 'abc'" "$(run_client 10 cat "$mnt/fioc" 2>&1)" abc
    fi
    stop_example "$mnt"
  done
}

# ---- printcap ----------------------------------------------------------------------

# printcap mounts itself on a fresh /tmp/fuse_printcap_XXXXXX, prints the
# protocol version and the capabilities the kernel offers, and unmounts.
group_printcap() {
  local side out before after leftover status
  declare -A caps=() proto=()
  for side in "${SIDES[@]}"; do
    echo "== $side printcap"
    build_example "$side" printcap || continue
    before=$(awk '$5 ~ /^\/tmp\/fuse_printcap_/ { print $5 }' /proc/self/mountinfo | sort)
    out=$(run_client 30 run_side "$side" "$(bin "$side" printcap)" 2>&1)
    status=$?
    after=$(awk '$5 ~ /^\/tmp\/fuse_printcap_/ { print $5 }' /proc/self/mountinfo | sort)
    leftover=$(comm -13 <(echo "$before") <(echo "$after"))
    if [ -n "$leftover" ]; then
      local d
      for d in $leftover; do abort_connection "$d"; umount -l "$d"; rmdir "$d"; done
    fi
    check "$side" printcap "exits 0 within 30 s" "$status" "$(tail -c 300 <<<"$out")"
    expect_eq "$side" printcap "leaves no mount behind" "$leftover" ""
    echo "$out" | sed 's/^/    | /'
    if grep -q '^FUSE library version 3\.' <<<"$out"; then
      check "$side" printcap "prints 'FUSE library version 3.*'" 0
    else
      check "$side" printcap "prints 'FUSE library version 3.*'" 1 "$(head -1 <<<"$out")"
    fi
    proto[$side]=$(sed -n 's/^Protocol version: //p' <<<"$out")
    caps[$side]=$(grep -E '^\s+FUSE_CAP_' <<<"$out" | tr -d '\t ' | sort)
    if [ -n "${caps[$side]}" ] && [ -n "${proto[$side]}" ]; then
      check "$side" printcap "prints the protocol version (${proto[$side]}) and $(wc -l <<<"${caps[$side]}") capabilities" 0
    else
      check "$side" printcap "prints the protocol version and capabilities" 1
    fi
  done
  if [ -n "${caps[ref]:-}" ] && [ -n "${caps[linfsp]:-}" ]; then
    expect_eq linfsp printcap "the kernel's protocol version is libfuse's" "${proto[linfsp]}" "${proto[ref]}"
    local missing extra
    missing=$(comm -23 <(echo "${caps[ref]}") <(echo "${caps[linfsp]}") | tr '\n' ' ')
    extra=$(comm -13 <(echo "${caps[ref]}") <(echo "${caps[linfsp]}") | tr '\n' ' ')
    [ -n "$extra" ] && echo "  note: capabilities LinFsp offers beyond libfuse: $extra"
    expect_eq linfsp printcap "offers every capability libfuse offers" "$missing" ""
  fi
}

# ---- preload: Debian's binaries on LinFsp's library ------------------------------

# hello and hello_ll built against Debian's libfuse3 (no rpath) run on
# LinFsp's library with LD_LIBRARY_PATH alone. With LINFSP_FUSE_REFERENCE_ONLY=1
# the directory holds a copy of Debian's library instead, which proves the
# mechanism.
group_preload() {
  local example mnt
  if [ "$REFERENCE_ONLY" = 1 ]; then
    PRELOAD_LIBDIR=$SCRATCH/fakelib
    mkdir -p "$PRELOAD_LIBDIR"
    cp "$(expected_lib ref)" "$PRELOAD_LIBDIR/libfuse3.so.3"
  fi
  for example in hello_ll hello; do
    echo "== ref $example with LD_LIBRARY_PATH=$PRELOAD_LIBDIR"
    build_example ref "$example" || continue
    mnt=$SCRATCH/preload-$example
    if start_example preload "$example" "$mnt" 60; then
      check_hello preload "$example" "$mnt" hello "Hello World!"
    fi
    stop_example "$mnt"
  done
}

case $GROUP in
  passthrough | hello | notify | poll | ioctl | printcap | preload) "group_$GROUP" ;;
  *) echo "run.sh: unknown group '$GROUP'" >&2; exit 2 ;;
esac
summarize
