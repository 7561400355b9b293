#!/usr/bin/env bash
# programs.sh DIR: real programs as tests on DIR -- make, git, tar, sqlite3,
# rsync and the attr tools. One line per program; stops with a clear message
# at the first failure. Every step runs under timeout(1) (STEP_TIMEOUT
# seconds, default 300). Everything it creates is removed on exit.
set -euo pipefail

dir=${1:?usage: programs.sh DIR}
[ -d "$dir" ] || { echo "programs.sh: $dir is not a directory" >&2; exit 2; }
for tool in make cc git tar sqlite3 rsync sha256sum setfattr getfattr timeout find; do
  command -v "$tool" >/dev/null || { echo "programs.sh: $tool is not installed (apt-get install -y git make gcc tar sqlite3 rsync attr)" >&2; exit 2; }
done

work=$(mktemp -d "$dir/.programs.XXXXXX")    # on the file system under test
host=$(mktemp -d /tmp/programs-host.XXXXXX)   # on the host, for reference copies
cleanup() { rm -rf "$work" "$host"; }
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
export work host
STEP_TIMEOUT=${STEP_TIMEOUT:-300}

# ---- helpers (also exported into each step's shell) -------------------------

fail() { echo "FAIL $STEP: $*"; exit 1; }

# A stable description of a tree: type, owner, mode, size, whole-second
# mtime, symlink target, content hash, and which names are hard links of
# each other. Two trees with the same manifest hold the same things.
manifest() {
  (
    cd "$1"
    find . -mindepth 1 \( -type f -o -type d \) -printf '%y %U:%G %m %T@ %P\n' |
      awk '{ $4 = int($4); print }' | sort
    find . -mindepth 1 -type f -printf 'size %s %P\n' | sort
    find . -mindepth 1 -type l -printf 'link %U:%G %P -> %l\n' | sort
    find . -mindepth 1 -type p -printf 'fifo %m %P\n' | sort
    find . -mindepth 1 -type f -print0 | sort -z | xargs -0 -r sha256sum
    find . -mindepth 1 -type f -links +1 -printf '%i\t%P\n' | sort |
      awk -F'\t' '{ g[$1] = g[$1] "|" $2 } END { for (k in g) print "hardlinks " g[k] }' | sort
  )
}

same_trees() {  # same_trees A B WHAT
  if ! diff <(manifest "$1") <(manifest "$2") >"$host/manifest.diff"; then
    head -20 "$host/manifest.diff"
    fail "$3"
  fi
}

# A tree with nested directories, odd sizes, symlinks (relative, absolute,
# dangling, to a directory), hard links, a sparse file, a fifo, odd names,
# several modes and (as root) owners.
make_tree() {
  local t=$1
  mkdir -p "$t/a/b/c" "$t/empty" "$t/with space/inner"
  local i
  for i in 0 1 511 4095 4096 4097 65536 100001; do head -c "$i" /dev/urandom >"$t/a/size$i"; done
  for i in $(seq 30); do head -c $((i * 777)) /dev/urandom >"$t/a/b/c/f$i"; done
  echo "text" >"$t/with space/inner/file with space.txt"
  printf 'x' >"$t/a/b/caf\xc3\xa9"
  ln -s ../size0 "$t/a/b/rel"
  ln -s /etc/hostname "$t/a/abs"
  ln -s nowhere "$t/a/dangling"
  ln -s b/c "$t/a/dirlink"
  ln "$t/a/size4096" "$t/a/b/hard1"
  ln "$t/a/size4096" "$t/a/b/c/hard2"
  ln "$t/a/b/c/f7" "$t/with space/f7 again"
  truncate -s 64M "$t/sparse"
  printf 'middle' | dd of="$t/sparse" bs=1 seek=$((32 << 20)) conv=notrunc status=none
  printf 'end' >>"$t/sparse"
  mkfifo "$t/a/fifo"
  chmod 0600 "$t/a/size1"
  chmod 0755 "$t/a/size511"
  chmod 0700 "$t/a/b/c"
  chmod 1777 "$t/empty"
  if [ "$(id -u)" = 0 ]; then
    chown 1234:5678 "$t/a/size4095"
    chown -h 4321:8765 "$t/a/b/rel"
  fi
  touch -d '2001-02-03 04:05:06.789' "$t/a/size65536"
}

export -f fail manifest same_trees make_tree

# ---- steps ------------------------------------------------------------------

step_make() {
  local p=$work/make
  mkdir -p "$p/src"
  cat >"$p/src/mathx.h" <<'EOF'
int sum_to(int n);
void reverse(char *s);
EOF
  cat >"$p/src/sum.c" <<'EOF'
#include "mathx.h"
int sum_to(int n) { int s = 0; for (int i = 1; i <= n; ++i) s += i; return s; }
EOF
  cat >"$p/src/reverse.c" <<'EOF'
#include <string.h>
#include "mathx.h"
void reverse(char *s) { for (size_t i = 0, j = strlen(s); i + 1 < j; ++i, --j) { char t = s[i]; s[i] = s[j - 1]; s[j - 1] = t; } }
EOF
  cat >"$p/src/main.c" <<'EOF'
#include <stdio.h>
#include "mathx.h"
#ifndef LIMIT
#define LIMIT 100
#endif
int main(void) { char w[] = "hello"; reverse(w); printf("sum=%d rev=%s\n", sum_to(LIMIT), w); return 0; }
EOF
  printf '%s\n' \
    'CFLAGS ?= -O2 -Wall -Werror' \
    'OBJS = build/main.o build/sum.o build/reverse.o' \
    'demo: $(OBJS)' \
    '	$(CC) -o $@ $(OBJS)' \
    'build/%.o: src/%.c src/mathx.h | build' \
    '	$(CC) $(CFLAGS) -c -o $@ $<' \
    'build:' \
    '	mkdir -p build' \
    'clean:' \
    '	rm -rf build demo' >"$p/Makefile"
  make -s -j2 -C "$p" >/dev/null || fail "make failed"
  [ "$("$p/demo")" = "sum=5050 rev=olleh" ] || fail "the built program printed '$("$p/demo")'"
  make -q -C "$p" || fail "make -q: the fresh build is not up to date (mtimes?)"
  sleep 1
  sed -i 's/#define LIMIT 100/#define LIMIT 10/' "$p/src/main.c"
  make -q -C "$p" && fail "make -q: a changed source did not make the target stale"
  make -s -C "$p" >/dev/null || fail "the rebuild failed"
  [ "$("$p/demo")" = "sum=55 rev=olleh" ] || fail "the rebuilt program printed '$("$p/demo")'"
  make -s -C "$p" clean
  [ ! -e "$p/demo" ] && [ ! -e "$p/build" ] || fail "make clean left files behind"
  echo "built and ran a 3-file C project, rebuilt after a change, cleaned"
}

step_git() {
  local r=$work/git
  mkdir -p "$r"
  local i
  for i in $(seq 120); do
    mkdir -p "$r/dir$((i % 7))/sub$((i % 3))"
    echo "file $i $RANDOM" >"$r/dir$((i % 7))/sub$((i % 3))/file$i.txt"
  done
  head -c 300000 /dev/urandom >"$r/blob.bin"
  printf '#!/bin/sh\necho hi\n' >"$r/script.sh"
  chmod +x "$r/script.sh"
  ln -s dir1/sub1 "$r/link"
  local g=(git -C "$r" -c user.email=compat@linfsp -c user.name=compat -c init.defaultBranch=main)
  "${g[@]}" init -q || fail "git init"
  "${g[@]}" add -A || fail "git add"
  "${g[@]}" commit -q -m first || fail "git commit"
  "${g[@]}" fsck --full --strict --no-progress 2>"$host/fsck.err" || { cat "$host/fsck.err"; fail "git fsck"; }
  [ -z "$("${g[@]}" status --porcelain)" ] || fail "git status is not clean after the commit"
  echo change >>"$r/dir1/sub1/file1.txt"
  "${g[@]}" mv dir2 dir2-renamed || fail "git mv"
  "${g[@]}" rm -q "$r"/dir3/sub0/*.txt || fail "git rm"
  "${g[@]}" commit -q -am second || fail "second commit"
  "${g[@]}" gc -q --prune=now || fail "git gc"
  "${g[@]}" fsck --full --strict --no-progress 2>"$host/fsck.err" || { cat "$host/fsck.err"; fail "git fsck after gc"; }
  [ -z "$("${g[@]}" status --porcelain)" ] || fail "git status is not clean after gc"
  [ "$("${g[@]}" rev-list --count HEAD)" = 2 ] || fail "expected 2 commits"
  # A local clone hard-links the objects.
  git clone -q "$r" "$work/clone" || fail "git clone"
  diff -r --exclude=.git "$r" "$work/clone" >/dev/null || fail "the clone differs from the repository"
  git -C "$work/clone" fsck --full --no-progress 2>/dev/null || fail "git fsck of the clone"
  echo "init, add, commit, mv, rm, gc, fsck, status clean, clone"
}

step_tar() {
  make_tree "$host/src"
  tar -C "$host/src" --sparse -cpf "$work/tree.tar" . || fail "tar -c into DIR"
  mkdir "$work/x"
  tar -C "$work/x" -xpf "$work/tree.tar" || fail "tar -x on DIR"
  same_trees "$host/src" "$work/x" "the tree extracted on DIR differs from the original"
  tar -C "$work/x" --sparse -cpf "$host/back.tar" . || fail "tar -c from DIR"
  mkdir "$host/back"
  tar -C "$host/back" -xpf "$host/back.tar" || fail "tar -x of the copy"
  same_trees "$host/src" "$host/back" "the tree tarred back out of DIR differs from the original"
  [ "$(tail -c 3 "$work/x/sparse")" = end ] || fail "the sparse file lost its tail"
  echo "tree with symlinks, hard links, a 64 MiB sparse file, a fifo: out to DIR and back, identical"
}

step_sqlite() {
  local db=$work/rollback.db
  {
    echo "create table t(k integer primary key, v text not null);"
    local i
    for i in $(seq 2000); do echo "begin; insert into t(v) values('row $i'); commit;"; done
    echo "begin; update t set v = v || '!' where k % 7 = 0; delete from t where k % 10 = 0; commit;"
  } | sqlite3 "$db" || fail "sqlite3 (rollback journal) failed"
  [ "$(sqlite3 "$db" 'select count(*) from t;')" = 1800 ] || fail "rows were lost (rollback journal)"
  [ "$(sqlite3 "$db" 'pragma integrity_check;')" = ok ] || fail "integrity_check (rollback journal)"
  [ ! -e "$db-journal" ] || fail "a journal was left behind"
  db=$work/wal.db
  {
    echo "pragma journal_mode=wal; create table t(k integer primary key, v blob);"
    local i
    for i in $(seq 1000); do echo "begin; insert into t(v) values(randomblob($((i % 50 * 40)))); commit;"; done
    echo "pragma wal_checkpoint(truncate);"
    echo "vacuum;"
  } | sqlite3 "$db" >/dev/null || fail "sqlite3 (WAL) failed"
  [ "$(sqlite3 "$db" 'select count(*) from t;')" = 1000 ] || fail "rows were lost (WAL)"
  [ "$(sqlite3 "$db" 'pragma integrity_check;')" = ok ] || fail "integrity_check (WAL)"
  echo "2000 rollback-journal and 1000 WAL transactions, vacuum, integrity_check ok"
}

step_rsync() {
  make_tree "$host/rsrc"
  rsync -aH "$host/rsrc/" "$work/r/" || fail "rsync into DIR"
  diff -r --no-dereference --exclude=fifo "$host/rsrc" "$work/r" >/dev/null || fail "diff -r: the copy differs"
  same_trees "$host/rsrc" "$work/r" "rsync -aH did not preserve the tree"
  # Nothing to do the second time: sizes and mtimes round-tripped.
  local changes
  changes=$(rsync -aH --itemize-changes "$host/rsrc/" "$work/r/") || fail "second rsync"
  [ -z "$changes" ] || { echo "$changes" | head -5; fail "a second rsync found changes"; }
  # Updates and deletions.
  echo "changed" >"$host/rsrc/a/size1"
  rm "$host/rsrc/a/b/c/f3"
  rsync -aH --delete "$host/rsrc/" "$work/r/" || fail "rsync --delete"
  same_trees "$host/rsrc" "$work/r" "rsync --delete did not bring the copy up to date"
  # And back out again.
  rsync -aH "$work/r/" "$host/rback/" || fail "rsync out of DIR"
  same_trees "$host/rsrc" "$host/rback" "rsync out of DIR differs"
  echo "rsync -aH in, diff -r clean, no-op second pass, --delete, and back out"
}

step_xattr() {
  local f=$work/xa
  touch "$f"
  if ! setfattr -n user.probe -v 1 "$f" 2>/dev/null; then
    echo "skipped: user extended attributes are not supported"
    return 0
  fi
  setfattr -n user.color -v blue "$f" || fail "setfattr"
  setfattr -n user.bin -v 0x00ff00 "$f" || fail "setfattr (binary)"
  [ "$(getfattr --only-values -n user.color "$f")" = blue ] || fail "getfattr read back"
  getfattr -e hex -n user.bin "$f" 2>/dev/null | grep -qx 'user.bin=0x00ff00' || fail "binary value"
  [ "$(getfattr -d -m '^user\.' "$f" 2>/dev/null | grep -c '^user\.')" = 3 ] || fail "getfattr -d does not list 3 attributes"
  setfattr -x user.probe "$f" || fail "setfattr -x"
  getfattr -n user.probe "$f" >/dev/null 2>&1 && fail "a removed attribute is still there"
  # Preserved by copies.
  mkdir -p "$host/xsrc"
  echo data >"$host/xsrc/file"
  if setfattr -n user.origin -v host "$host/xsrc/file" 2>/dev/null; then
    rsync -aX "$host/xsrc/" "$work/xdst/" || fail "rsync -aX"
    [ "$(getfattr --only-values -n user.origin "$work/xdst/file")" = host ] || fail "rsync -X lost the attribute"
  fi
  cp --preserve=xattr "$f" "$work/xa-copy" || fail "cp --preserve=xattr"
  [ "$(getfattr --only-values -n user.color "$work/xa-copy")" = blue ] || fail "cp lost the attribute"
  echo "setfattr/getfattr round trip, removal, preserved by rsync -X and cp"
}

export -f step_make step_git step_tar step_sqlite step_rsync step_xattr

# ---- driver -------------------------------------------------------------------

for name in make git tar sqlite rsync xattr; do
  start=$(date +%s%N)
  rc=0
  out=$(STEP=$name timeout -k 10 "$STEP_TIMEOUT" bash -c "set -euo pipefail; step_$name" 2>&1) || rc=$?
  ms=$((($(date +%s%N) - start) / 1000000))
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    echo "$out" | tail -5
    echo "FAIL $name: timed out after $STEP_TIMEOUT s"
    exit 1
  elif [ "$rc" != 0 ]; then
    echo "$out" | tail -20
    case "$out" in *"FAIL $name:"*) ;; *) echo "FAIL $name: exit status $rc" ;; esac
    exit 1
  fi
  printf 'ok   %-7s %s (%d ms)\n' "$name" "$(echo "$out" | tail -1)" "$ms"
done
echo "programs: all passed"
