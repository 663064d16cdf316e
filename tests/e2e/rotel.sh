#!/usr/bin/env bash
# Fetches a real OpenTelemetry Collector, rotel (a collector in Rust, shipped as one binary in
# the `rotel` wheel on PyPI), into the tests' cache folder, once, and prints its path.
#   tests/e2e/rotel.sh [VERSION]
# It needs python3 with pip (to download the wheel) and libpython3.11 at run time.
set -euo pipefail
version="${1:-0.0.1a15}"
cache="${TELEMHQ_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/telemhq-e2e}/rotel-$version"
bin="$cache/rotel/rotel-agent"
if [ ! -x "$bin" ]; then
  mkdir -p "$cache/dl"
  PIP_CACHE_DIR="$cache/../pip-cache" python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.11 \
    --platform manylinux_2_34_x86_64 "rotel==$version" -d "$cache/dl" >&2
  python3 -m zipfile -e "$cache"/dl/rotel-*.whl "$cache" >&2
  chmod +x "$bin"
fi
# (Run with a HOME of its own: an agent writes into its HOME even for --version.)
scratch="$(mktemp -d)"; trap 'rm -rf "$scratch"' EXIT
HOME="$scratch" XDG_CONFIG_HOME="$scratch/.config" XDG_CACHE_HOME="$scratch/.cache" \
  XDG_DATA_HOME="$scratch/.local/share" XDG_STATE_HOME="$scratch/.local/state" \
  "$bin" --version >/dev/null
echo "$bin"
