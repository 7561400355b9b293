#!/usr/bin/env bash
# Runs a command with a fresh MEMFS mount as its last argument:
# run_on_memfs.sh MEMFS_BINARY CMD [ARGS...]
# MEMFS_ARGS (optional) adds memfs options, e.g. MEMFS_ARGS=--uring.
set -euo pipefail
memfs=$1
shift
dir=$(mktemp -d /tmp/linfsp-memfs-XXXXXX)
pid=
cleanup() {
  local rc=$?
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  umount -l "$dir" 2>/dev/null || true
  rmdir "$dir" 2>/dev/null || true
  exit "$rc"
}
trap cleanup EXIT
# shellcheck disable=SC2086 # MEMFS_ARGS is a list of options
"$memfs" "$dir" -o allow_other ${MEMFS_ARGS:-} 2>"$dir.log" &
pid=$!
for _ in $(seq 100); do grep -q " $dir fuse.memfs " /proc/mounts && break; sleep 0.1; done
grep -q " $dir fuse.memfs " /proc/mounts || { echo "memfs did not mount:"; cat "$dir.log"; exit 1; }
rm -f "$dir.log"
chmod 0777 "$dir"
"$@" "$dir"
