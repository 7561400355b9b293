#!/usr/bin/env bash
# readme_sample.sh README.md samples/hello/hello.cc
# The README's "Writing a file system" snippet and the sample that the tests
# build and mount must be the same text, byte for byte.
set -euo pipefail
readme=$1
sample=$2
snippet=$(mktemp)
trap 'rm -f "$snippet"' EXIT
awk '/^## Writing a file system/ { in_section = 1 }
     in_section && /^```cpp$/ { in_code = 1; next }
     in_code && /^```$/ { exit }
     in_code { print }' "$readme" >"$snippet"
if [ ! -s "$snippet" ]; then
  echo "no \`\`\`cpp block under \"## Writing a file system\" in $readme"
  exit 1
fi
if ! cmp -s "$snippet" "$sample"; then
  echo "$sample differs from the snippet in $readme:"
  diff -u "$snippet" "$sample" || true
  exit 1
fi
echo "$sample matches the snippet in $readme"
