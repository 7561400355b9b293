#!/usr/bin/env bash
# Runs a command with a fresh tmpfs as its last argument: run_on_tmpfs.sh CMD [ARGS...]
set -euo pipefail
dir=$(mktemp -d /tmp/linfsp-tmpfs-XXXXXX)
trap 'rc=$?; umount -l "$dir" 2>/dev/null || true; rmdir "$dir" 2>/dev/null || true; exit $rc' EXIT
mount -t tmpfs -o mode=0777 linfsp-compat "$dir"
"$@" "$dir"
