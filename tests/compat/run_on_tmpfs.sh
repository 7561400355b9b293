#!/usr/bin/env bash
# run_on_tmpfs.sh CMD [ARGS...]: mounts a fresh tmpfs on a mktemp -d directory,
# runs CMD ARGS... DIR on it, and exits with CMD's status. The tmpfs is
# unmounted (lazily) on any exit. Needs root to mount; exits 77 (CTest's
# "skipped") without it.
set -uo pipefail
[ $# -ge 1 ] || { echo "usage: run_on_tmpfs.sh CMD [ARGS...]" >&2; exit 2; }
if [ "$(id -u)" != 0 ]; then
  echo "run_on_tmpfs.sh: mounting a tmpfs needs root; skipped"
  exit 77
fi
dir=$(mktemp -d /tmp/linfsp-tmpfs.XXXXXX) || exit 2
mounted=
cleanup() {
  [ -n "$mounted" ] && umount -l "$dir" 2>/dev/null
  rmdir "$dir" 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
mount -t tmpfs -o mode=0777,size=2g linfsp-compat "$dir" || { echo "run_on_tmpfs.sh: mount failed" >&2; exit 2; }
mounted=1
"$@" "$dir"
