#!/usr/bin/env bash
# Installs the pinned Claude Code (npm package @anthropic-ai/claude-code, a native binary
# that needs no Node.js to run) into a cache folder outside the repository, once, and
# prints the path of its `claude` binary.
#   tests/e2e/claude-code.sh [VERSION]
# Cache: $TELEMHQ_E2E_CACHE, else ${XDG_CACHE_HOME:-$HOME/.cache}/telemhq-e2e
set -euo pipefail
version="${1:-${TELEMHQ_CLAUDE_CODE_VERSION:-2.1.328}}"
cache="${TELEMHQ_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/telemhq-e2e}/claude-code-$version"
binary() { ls "$cache"/node_modules/@anthropic-ai/claude-code-linux-*/claude 2>/dev/null | head -n 1 || true; }
bin="$(binary)"
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
  command -v npm >/dev/null || { echo "npm is not installed: cannot fetch Claude Code" >&2; exit 3; }
  mkdir -p "$cache"
  # --ignore-scripts: the postinstall step only links the platform binary, called directly here.
  (cd "$cache" && npm_config_cache="$cache/../npm-cache" npm install --no-audit --no-fund --ignore-scripts --loglevel=error \
      "@anthropic-ai/claude-code@$version" >&2)
  bin="$(binary)"
fi
[ -n "$bin" ] || { echo "the Claude Code package has no binary for this platform" >&2; exit 3; }
# (Run with a HOME of its own: an agent writes into its HOME even for --version.)
scratch="$(mktemp -d)"; trap 'rm -rf "$scratch"' EXIT
HOME="$scratch" XDG_CONFIG_HOME="$scratch/.config" XDG_CACHE_HOME="$scratch/.cache" \
  XDG_DATA_HOME="$scratch/.local/share" XDG_STATE_HOME="$scratch/.local/state" \
  "$bin" --version >/dev/null
echo "$bin"
