#!/usr/bin/env bash
# Builds the npm packages of telemhq: `telemhq` (a small launcher) and the package of
# this platform's native binary (`@telemhq/<os>-<cpu>`), as tarballs in OUT_DIR.
#   bash templates/npm/pack.sh OUT_DIR [BINARY [PLATFORM]]
# BINARY: the native binary (default: the static release build if there is one, else
# target/release/telemhq). PLATFORM: linux-x64 (default), linux-arm64, darwin-x64,
# darwin-arm64 — the release workflow builds each on its own runner.
set -euo pipefail
out="${1:?usage: pack.sh OUT_DIR [BINARY [PLATFORM]]}"
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
binary="${2:-}"
if [ -z "$binary" ]; then
  binary="$root/target/x86_64-unknown-linux-gnu/release/telemhq"
  [ -x "$binary" ] || binary="$root/target/release/telemhq"
fi
platform="${3:-linux-x64}"
[ -x "$binary" ] || { echo "no binary at $binary: cargo build --release first" >&2; exit 2; }
version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -1)"
os="${platform%-*}"; cpu="${platform#*-}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The launcher package.
mkdir -p "$work/telemhq/bin"
sed "s/@VERSION@/$version/g" "$here/telemhq/package.json" > "$work/telemhq/package.json"
cp "$here/telemhq/bin/telemhq.js" "$work/telemhq/bin/telemhq.js"
chmod 755 "$work/telemhq/bin/telemhq.js"
cp "$root/README.md" "$work/telemhq/README.md"
# The manual page, which npm links into its man folder on a global install.
mkdir -p "$work/telemhq/man"
"$binary" man > "$work/telemhq/man/telemhq.1"

# The platform package.
mkdir -p "$work/platform/bin"
sed -e "s/@VERSION@/$version/g" -e "s/@PLATFORM@/$platform/g" -e "s/@OS@/$os/g" -e "s/@CPU@/$cpu/g" \
  "$here/platform/package.json" > "$work/platform/package.json"
cp "$binary" "$work/platform/bin/telemhq"
chmod 755 "$work/platform/bin/telemhq"

for pkg in telemhq platform; do
  (cd "$work/$pkg" && npm pack --silent --pack-destination "$out" >/dev/null)
done
ls "$out"/*.tgz
