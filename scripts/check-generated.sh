#!/usr/bin/env bash
# Fails when src/gen is not exactly what `buf generate` makes from proto/ and third_party/proto/:
# generated code is committed and never edited by hand.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$root"
npx buf generate --output "$tmp"
if ! diff -r "$root/src/gen" "$tmp/src/gen" >/dev/null; then
  echo "src/gen differs from what 'buf generate' makes from proto/ and third_party/proto/: run 'npm run generate' and commit the result" >&2
  diff -r "$root/src/gen" "$tmp/src/gen" | head -20 >&2
  exit 1
fi
