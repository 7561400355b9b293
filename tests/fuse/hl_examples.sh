#!/usr/bin/env bash
# libfuse's own high-level examples (Debian's libfuse3-dev ships them), built
# unchanged against LinFsp's libfuse3 with `pkg-config fuse3` and driven
# through real mounts.
#
#   hl_examples.sh PKGCONFIG_DIR basic
#       hello reads back; passthrough and passthrough_fh mirror a scratch
#       directory (create, write, read, rename, unlink, mkdir, symlink,
#       chmod, truncate, hard links, xattrs, an open file unlinked). (null,
#       which mounts on a regular file, is driven by examples/run.sh.)
#   hl_examples.sh PKGCONFIG_DIR features
#       hl_features_fs.c (beside this script), a file system of the
#       operations the examples leave out (listings with and without offsets,
#       fuse_get_context, init/destroy, ioctl, poll, locks, mknod without
#       create), driven by hl_features_check.c; multi- and single-threaded.
#   hl_examples.sh PKGCONFIG_DIR compat EXAMPLE FSP_COMPAT EXPECTED_FAILURES
#       runs fsp-compat on EXAMPLE's mount; fails if a group fails that the
#       EXPECTED_FAILURES file does not list (each listed group says why).
#
# Nothing may hang: every command on a mount runs under timeout(1), and a
# watchdog per mount aborts its FUSE connection (fusectl) and unmounts it
# lazily if the test overruns. Every mount is unmounted and every process
# this script started is ended, pass or fail. Exit 77: cannot run here.
set -uo pipefail

pcdir=$1
mode=$2
examples=/usr/share/doc/libfuse3-dev/examples
command -v gcc >/dev/null && command -v pkg-config >/dev/null && [ -f "$examples/hello.c" ] || {
  echo "skipped: needs gcc, pkg-config and $examples (package libfuse3-dev)"
  exit 77
}
[ -e /dev/fuse ] || { echo "skipped: no /dev/fuse"; exit 77; }

work=$(mktemp -d /tmp/linfsp-hl-XXXXXX)
pids=()    # started by this script
reaped=()  # of those, waited for (their numbers may be reused: never signal them)
mounts=()
watchdogs=()
failures=0

fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# Aborts the FUSE connection mounted at $1: every request waiting on it ends.
abort_connection() {
  local dev minor
  dev=$(mountpoint -d "$1" 2>/dev/null) || return 0
  minor=${dev#*:}
  [ -d /sys/fs/fuse/connections ] || return 0
  [ -e /sys/fs/fuse/connections/$minor/abort ] ||
    mount -t fusectl fusectl /sys/fs/fuse/connections 2>/dev/null || true
  echo 1 >"/sys/fs/fuse/connections/$minor/abort" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  for w in "${watchdogs[@]}"; do kill "$w" 2>/dev/null; wait "$w" 2>/dev/null; done
  for m in "${mounts[@]}"; do
    if mountpoint -q "$m" 2>/dev/null; then
      fusermount3 -u "$m" 2>/dev/null || { abort_connection "$m"; umount -l "$m" 2>/dev/null; }
    fi
  done
  for p in "${pids[@]}"; do
    [[ " ${reaped[*]} " == *" $p "* ]] && continue
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -TERM "$p" 2>/dev/null && sleep 0.5
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT

here=$(cd "$(dirname "$0")" && pwd)
# A sanitized build's library loads only into a sanitized program.
sanitize=
if [[ $(ldd "$(dirname "$pcdir")/libfuse3.so.3" 2>/dev/null) == *libasan* ]]; then
  sanitize="-fsanitize=address,undefined -fno-omit-frame-pointer"
fi

build() {
  local name=$1 source=${2:-$examples/$1.c}
  # libfuse's build defines these in its config.h for the examples.
  local have="-DHAVE_COPY_FILE_RANGE -DHAVE_FALLOCATE -DHAVE_FDATASYNC -DHAVE_FSTATAT
              -DHAVE_POSIX_FALLOCATE -DHAVE_SETXATTR -DHAVE_UTIMENSAT"
  # shellcheck disable=SC2046,SC2086
  gcc -Wall -g $sanitize -o "$work/$name" "$source" -I"$here" $have \
    $(PKG_CONFIG_PATH=$pcdir pkg-config --cflags --libs fuse3) || { echo "cannot build $name.c"; exit 1; }
  # It must load our library, not the system's.
  local libs
  libs=$(ldd "$work/$name")
  grep -q "$(dirname "$pcdir")/libfuse3.so.3" <<<"$libs" || { echo "$name does not load LinFsp's libfuse3"; exit 1; }
}

# start NAME MOUNTPOINT ARGS...: runs the example in the foreground (-f) in
# the background, waits for its mount, arms a watchdog.
start() {
  local name=$1 mnt=$2
  shift 2
  mkdir -p "$mnt"
  "$work/$name" -f "$mnt" "$@" 2>"$work/$name.log" &
  local pid=$!
  pids+=("$pid")
  mounts+=("$mnt")
  for _ in $(seq 100); do
    grep -q " $mnt fuse" /proc/mounts && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  grep -q " $mnt fuse" /proc/mounts || { echo "$name did not mount:"; cat "$work/$name.log"; exit 1; }
  (
    # Killed when the mount ends in time; its sleep goes with it (a sleep
    # left behind would hold the test's output open).
    sleeper=
    trap '[ -n "$sleeper" ] && kill "$sleeper" 2>/dev/null; exit 0' TERM
    sleep "${HL_WATCHDOG:-600}" &
    sleeper=$!
    wait "$sleeper"
    echo "WATCHDOG: $name at $mnt overran; aborting its connection" >&2
    abort_connection "$mnt"
    umount -l "$mnt" 2>/dev/null
    kill -KILL "$pid" 2>/dev/null
  ) &
  watchdogs+=("$!")
  started_watchdog=$!
  started_pid=$pid
}

# stop MOUNTPOINT PID WATCHDOG: unmounts as a user would, checks the exit
# status, ends the mount's watchdog (so it can never signal a reused PID).
stop() {
  local mnt=$1 pid=$2 watchdog=$3
  timeout 20 fusermount3 -u "$mnt" || fail "fusermount3 -u $mnt"
  local rc=
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    fail "the file system at $mnt did not exit after the unmount"
  else
    wait "$pid"
    rc=$?
    reaped+=("$pid")
    [ "$rc" = 0 ] || fail "the file system at $mnt exited with $rc"
  fi
  kill "$watchdog" 2>/dev/null
  wait "$watchdog" 2>/dev/null
}

t() { timeout 60 "$@"; }

check_eq() {  # what expected actual
  [ "$2" = "$3" ] || fail "$1: expected '$2', got '$3'"
}

# The checks every passthrough variant must pass: $1 the mirrored path, $2 the backing one.
mirror_checks() {
  local m=$1 b=$2
  echo hi >"$b/a"
  check_eq "read of an existing file" hi "$(t cat "$m/a")"
  t sh -c "echo world >'$m/new'" || fail "create"
  check_eq "created file on the backing side" world "$(cat "$b/new" 2>&1)"
  check_eq "created file read back" world "$(t cat "$m/new")"
  t sh -c "echo more >>'$m/new'" || fail "append"
  check_eq "appended" "world more" "$(t cat "$m/new" | tr '\n' ' ' | sed 's/ $//')"
  t mv "$m/new" "$m/renamed" || fail "rename"
  [ -e "$b/renamed" ] && [ ! -e "$b/new" ] || fail "rename on the backing side"
  check_eq "renamed file" "world more" "$(t cat "$m/renamed" | tr '\n' ' ' | sed 's/ $//')"
  t mkdir "$m/dir" || fail "mkdir"
  [ -d "$b/dir" ] || fail "mkdir on the backing side"
  t sh -c "echo inner >'$m/dir/f'" || fail "create in a new directory"
  t mv "$m/dir" "$m/dir2" || fail "rename of a directory"
  check_eq "file under a renamed directory" inner "$(t cat "$m/dir2/f")"
  t ln -s renamed "$m/link" || fail "symlink"
  check_eq "readlink" renamed "$(t readlink "$m/link")"
  check_eq "read through a symlink" "world more" "$(t cat "$m/link" | tr '\n' ' ' | sed 's/ $//')"
  t ln "$m/a" "$m/hard" || fail "link"
  check_eq "hard link count" 2 "$(t stat -c %h "$m/hard")"
  t chmod 640 "$m/a" || fail "chmod"
  check_eq "mode" 640 "$(t stat -c %a "$m/a")"
  check_eq "mode on the backing side" 640 "$(stat -c %a "$b/a")"
  t truncate -s 2 "$m/renamed" || fail "truncate"
  check_eq "size after truncate" 2 "$(t stat -c %s "$m/renamed")"
  check_eq "data after truncate" wo "$(t cat "$m/renamed")"
  t touch -d @1000000000 "$m/a" || fail "utimens"
  check_eq "mtime" 1000000000 "$(t stat -c %Y "$m/a")"
  if t setfattr -n user.k -v v "$m/a" 2>/dev/null; then
    check_eq "xattr" v "$(t getfattr --only-values -n user.k "$m/a" 2>/dev/null)"
  fi
  check_eq "listing" "a dir2 hard link renamed" "$(t ls "$m" | tr '\n' ' ' | sed 's/ $//')"
  # An open file stays readable after its name goes.
  t sh -c "exec 3<'$m/renamed'; rm '$m/renamed'; cat <&3" >"$work/out" || fail "read of an unlinked open file"
  check_eq "unlinked open file" wo "$(cat "$work/out")"
  t rm "$m/link" "$m/hard" "$m/dir2/f" || fail "unlink"
  t rmdir "$m/dir2" || fail "rmdir"
  [ ! -e "$b/dir2" ] && [ ! -e "$b/link" ] || fail "removal on the backing side"
  check_eq "listing after the removals" "a" "$(t ls -A "$m" | tr '\n' ' ' | sed 's/ $//')"
  t stat -f "$m" >/dev/null || fail "statfs"
}

case $mode in
basic)
  for e in hello passthrough passthrough_fh; do build "$e"; done

  echo "== hello"
  start hello "$work/m-hello"
  check_eq "hello's file" "Hello World!" "$(t cat "$work/m-hello/hello")"
  check_eq "hello's listing" "hello" "$(t ls "$work/m-hello")"
  check_eq "hello's file mode" "-r--r--r-- 13" "$(t stat -c '%A %s' "$work/m-hello/hello")"
  t sh -c "echo x >'$work/m-hello/new'" 2>/dev/null && fail "hello accepted a new file"
  stop "$work/m-hello" "$started_pid" "$started_watchdog"
  check_eq "hello --version" 0 "$(t "$work/hello" --version >/dev/null 2>&1; echo $?)"
  t "$work/hello" --help >"$work/help.txt" 2>&1
  grep -q -- "--name=<s>" "$work/help.txt" && grep -q "kernel_cache" "$work/help.txt" || fail "hello --help"

  for e in passthrough passthrough_fh; do
    echo "== $e"
    mkdir -p "$work/b-$e"
    start "$e" "$work/m-$e"
    mirror_checks "$work/m-$e$work/b-$e" "$work/b-$e"
    stop "$work/m-$e" "$started_pid" "$started_watchdog"
  done
  ;;
features)
  build hl_features_fs "$here/hl_features_fs.c"
  gcc -Wall -Werror -o "$work/hl_features_check" "$here/hl_features_check.c" -I"$here" -pthread ||
    { echo "cannot build hl_features_check.c"; exit 1; }
  for variant in "offsets:" "whole:--whole" "single-threaded:-s"; do
    label=${variant%%:*}
    extra=${variant#*:}
    echo "== hl_features_fs ($label)"
    export HL_DESTROY_MARK=$work/destroyed-$label
    # shellcheck disable=SC2086 # extra is one option or none
    start hl_features_fs "$work/m-$label" $extra
    t "$work/hl_features_check" "$work/m-$label" || fail "hl_features_check ($label)"
    stop "$work/m-$label" "$started_pid" "$started_watchdog"
    check_eq "destroy() ran with init()'s private data ($label)" destroyed "$(cat "$HL_DESTROY_MARK" 2>&1)"
  done
  ;;
compat)
  example=$3 compat=$4 expected=$5
  build "$example"
  mkdir -p "$work/b" && chmod 0777 "$work/b"
  start "$example" "$work/m" -o allow_other,default_permissions
  echo "== fsp-compat on $example (-o default_permissions)"
  timeout 800 "$compat" "$work/m$work/b" >"$work/compat.txt" 2>&1
  tail -1 "$work/compat.txt"
  grep '^FAIL' "$work/compat.txt" | awk '{print $2}' | sed 's/\[.*//' | sort -u >"$work/failed.txt"
  grep -v '^#' "$expected" | awk 'NF {print $1}' | sort -u >"$work/expected.txt"
  unexpected=$(comm -23 "$work/failed.txt" "$work/expected.txt")
  if [ -n "$unexpected" ]; then
    fail "groups failed that $expected does not expect: $(echo "$unexpected" | tr '\n' ' ')"
    grep -F -f <(echo "$unexpected" | sed 's/^/FAIL /') "$work/compat.txt" | head -40
  fi
  fixed=$(comm -13 "$work/failed.txt" "$work/expected.txt")
  [ -z "$fixed" ] || echo "note: these expected failures now pass: $(echo "$fixed" | tr '\n' ' ')"
  stop "$work/m" "$started_pid" "$started_watchdog"
  ;;
*)
  echo "usage: $0 PKGCONFIG_DIR basic | compat EXAMPLE FSP_COMPAT EXPECTED_FAILURES"
  exit 2
  ;;
esac

if [ "$failures" != 0 ]; then
  echo "$failures check(s) failed"
  for l in "$work"/*.log; do
    [ -s "$l" ] || continue
    echo "--- $l"
    # A sanitizer's report from its start; otherwise the end of the log.
    if grep -q "ERROR: \|runtime error" "$l"; then grep -m1 -A40 "ERROR: \|runtime error" "$l"; else tail -20 "$l"; fi
  done
  exit 1
fi
echo "all checks passed"
