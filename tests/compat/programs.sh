#!/usr/bin/env bash
# Real programs on DIR: make, git, tar, sqlite3, rsync. Stops at the first
# failure with a message; each step is bounded in time.
set -euo pipefail
dir=${1:?usage: programs.sh DIR}
work="$dir/programs-$$"
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
step() { echo "== $1"; }
t() { timeout 120 "$@"; }

step "make: build and run a small C project"
mkdir "$work/proj"
cat > "$work/proj/util.h" <<'C'
int add(int a, int b);
C
cat > "$work/proj/util.c" <<'C'
#include "util.h"
int add(int a, int b) { return a + b; }
C
cat > "$work/proj/main.c" <<'C'
#include <stdio.h>
#include "util.h"
int main(void) { printf("%d\n", add(40, 2)); return 0; }
C
printf 'app: main.o util.o\n\tcc -o $@ $^\n%%.o: %%.c util.h\n\tcc -c -O2 -o $@ $<\n' > "$work/proj/Makefile"
t make -s -C "$work/proj" >/dev/null
[ "$("$work/proj/app")" = 42 ] || { echo "FAIL: the built program printed the wrong answer"; exit 1; }
touch "$work/proj/util.h"
t make -s -C "$work/proj" >/dev/null   # rebuild after a change, by mtime

step "git: init, add, commit, fsck"
mkdir "$work/repo"
for i in $(seq 50); do mkdir -p "$work/repo/d$((i % 5))"; echo "file $i" > "$work/repo/d$((i % 5))/f$i.txt"; done
( cd "$work/repo" && t git init -q && t git add -A &&
  t git -c user.email=ci@linfsp -c user.name=ci commit -qm initial &&
  echo change >> d1/f1.txt && t git -c user.email=ci@linfsp -c user.name=ci commit -qam second &&
  t git fsck --strict 2>&1 | grep -v '^Checking' || true
  [ -z "$(git status --porcelain)" ] || { echo "FAIL: git status is not clean"; exit 1; }
  [ "$(git rev-list --count HEAD)" = 2 ] || { echo "FAIL: expected two commits"; exit 1; } )

step "tar: a tree with links and a sparse file, out and back in"
src="$work/src"
mkdir -p "$src/a/b/c"
for i in $(seq 30); do head -c $((i * 1000)) /dev/urandom > "$src/a/file$i"; done
ln -s ../file1 "$src/a/b/sym"
ln "$src/a/file2" "$src/a/b/c/hard"
truncate -s 10M "$src/sparse" && echo tail >> "$src/sparse"
(cd "$src" && find . -type f -exec sha256sum {} + | sort -k2) > "$work/sums"
t tar -C "$src" --sparse -cf "$work/tree.tar" .
mkdir "$work/out"
t tar -C "$work/out" -xf "$work/tree.tar"
(cd "$work/out" && find . -type f -exec sha256sum {} + | sort -k2) | diff - "$work/sums" >/dev/null ||
  { echo "FAIL: tar round trip changed the data"; exit 1; }
[ "$(readlink "$work/out/a/b/sym")" = ../file1 ] || { echo "FAIL: symlink lost"; exit 1; }
[ "$(stat -c %i "$work/out/a/file2")" = "$(stat -c %i "$work/out/a/b/c/hard")" ] || { echo "FAIL: hard link lost"; exit 1; }

step "sqlite3: 2000 transactions, then an integrity check"
db="$work/test.db"
{ echo "pragma journal_mode=wal; create table t(k integer primary key, v text);"
  for i in $(seq 2000); do echo "begin; insert into t(v) values('row $i'); commit;"; done
  echo "update t set v = v || '!' where k % 7 = 0;"; } | t sqlite3 "$db" >/dev/null
[ "$(t sqlite3 "$db" 'select count(*) from t;')" = 2000 ] || { echo "FAIL: sqlite lost rows"; exit 1; }
[ "$(t sqlite3 "$db" 'pragma integrity_check;')" = ok ] || { echo "FAIL: sqlite integrity check"; exit 1; }

step "rsync: copy a tree in, compare"
t rsync -a "$src/" "$work/synced/"
t diff -r "$src" "$work/synced" >/dev/null || { echo "FAIL: rsync copy differs"; exit 1; }
t rsync -a --delete "$src/a/" "$work/synced/a/"   # a second pass finds nothing to do

echo "programs: all passed"
