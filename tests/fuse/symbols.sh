#!/usr/bin/env bash
# symbols.sh LIBFUSE OURS [DOC]: compares the dynamic symbols LinFsp's
# libfuse3.so.3 (OURS) exports with those of libfuse's (LIBFUSE, Debian's
# /lib/x86_64-linux-gnu/libfuse3.so.3):
#   - every versioned symbol libfuse exports, name@VERSION (the older,
#     non-default ones) and name@@VERSION (the default ones) alike, and every
#     version node (FUSE_3.0 ...), must be exported by OURS with the same
#     version tag and the same default-ness, unless DOC (docs/fuse.md) lists
#     it under "## Symbols not provided" as "- `name@VERSION`: reason";
#   - OURS exports nothing libfuse does not: no C++ symbol, no helper leaks.
# Prints the differences; exits 1 if there are any.
set -uo pipefail
[ $# -ge 2 ] || { echo "usage: symbols.sh LIBFUSE OURS [DOC]" >&2; exit 2; }
ref=$1 ours=$2 doc=${3:-}
for f in "$ref" "$ours"; do
  [ -r "$f" ] || { echo "symbols.sh: cannot read $f" >&2; exit 2; }
done

# exports LIB: the defined dynamic symbols, one "name@VERSION",
# "name@@VERSION", or bare name (version nodes, unversioned symbols) a line.
exports() {
  readelf --dyn-syms --wide "$1" |
    awk '$1 ~ /^[0-9]+:$/ && $7 != "UND" && $5 != "LOCAL" && NF >= 8 { print $8 }' | sort -u
}

# documented: the "name@VERSION" entries of DOC's "Symbols not provided".
documented() {
  [ -n "$doc" ] && [ -r "$doc" ] || return 0
  awk '/^## / { in_section = ($0 ~ /^## Symbols not provided/) ; next }
       in_section && /^- `[^`]+`/ { sub(/^- `/, ""); sub(/`.*/, ""); print }' "$doc" | sort -u
}

# plain SYMBOL: name@VERSION for name@@VERSION, as the documentation spells it.
plain() { sed 's/@@/@/'; }

ref_syms=$(exports "$ref")
our_syms=$(exports "$ours")
allowed=$(documented)
status=0

echo "libfuse: $ref ($(wc -l <<<"$ref_syms") symbols)"
echo "LinFsp:  $ours ($(wc -l <<<"$our_syms") symbols)"

missing=$(comm -23 <(echo "$ref_syms") <(echo "$our_syms"))
extra=$(comm -13 <(echo "$ref_syms") <(echo "$our_syms"))

# A symbol exported with the other default-ness (name@V against name@@V) is
# reported once, as such, rather than as missing and extra.
while IFS= read -r sym; do
  [ -n "$sym" ] || continue
  if [[ $sym == *@@* ]]; then other=${sym/@@/@}; else other=${sym/@/@@}; fi
  if [[ $sym == *@* ]] && grep -qxF "$other" <<<"$extra"; then
    echo "FAIL default-ness differs: libfuse exports $sym, LinFsp $other"
    extra=$(grep -vxF "$other" <<<"$extra")
    status=1
  elif grep -qxF "$(plain <<<"$sym")" <<<"$allowed"; then
    echo "ok   not provided, documented in $(basename "${doc:-docs/fuse.md}"): $sym"
  else
    echo "FAIL missing: $sym"
    status=1
  fi
done <<<"$missing"

while IFS= read -r sym; do
  [ -n "$sym" ] || continue
  case $sym in
    _Z*) echo "FAIL extra (C++ symbol): $sym = $(c++filt "${sym%%@*}")" ;;
    *) echo "FAIL extra (libfuse does not export it): $sym" ;;
  esac
  status=1
done <<<"$extra"

# Entries of the list that name something LinFsp now exports, or that
# libfuse never exported, are stale.
while IFS= read -r sym; do
  [ -n "$sym" ] || continue
  if grep -qxF "$sym" <<<"$(plain <<<"$our_syms")"; then
    echo "note: $doc lists $sym as not provided, but LinFsp exports it"
  elif ! grep -qxF "$sym" <<<"$(plain <<<"$ref_syms")"; then
    echo "note: $doc lists $sym, which libfuse does not export"
  fi
done <<<"$allowed"

if [ "$status" = 0 ]; then
  echo "PASS every libfuse symbol is exported with its version (or documented as not provided), nothing else is"
else
  echo "FAIL the exported symbols differ from libfuse's (see above)"
fi
exit "$status"
