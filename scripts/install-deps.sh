#!/usr/bin/env bash
# Installs what LinFsp needs to build and test, from Debian's archive, only
# when something is missing. Needs root (or sudo) to install.
set -euo pipefail

packages=(g++ cmake make pkg-config libgtest-dev libbenchmark-dev liburing-dev fuse3 spin
          git sqlite3 rsync tar attr gcc clang libfuse3-dev libfuse-dev libtomlplusplus-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [ ! -e /dev/fuse ]; then
  modprobe fuse 2>/dev/null || true
  [ -e /dev/fuse ] || { echo "error: /dev/fuse is missing and the fuse module could not be loaded" >&2; exit 1; }
fi
