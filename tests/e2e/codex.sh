#!/usr/bin/env bash
# Installs the pinned Codex CLI (npm package @openai/codex; its native binary comes in an
# optional dependency) into a cache folder outside the repository, once, and prints the
# path of its `codex` command.
#   tests/e2e/codex.sh [VERSION]
# Cache: $TELEMHQ_E2E_CACHE, else ${XDG_CACHE_HOME:-$HOME/.cache}/telemhq-e2e
set -euo pipefail
version="${1:-${TELEMHQ_CODEX_VERSION:-0.169.0}}"
cache="${TELEMHQ_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/telemhq-e2e}/codex-$version"
bin="$cache/node_modules/.bin/codex"
if [ ! -x "$bin" ]; then
  command -v npm >/dev/null || { echo "npm is not installed: cannot fetch Codex" >&2; exit 3; }
  mkdir -p "$cache"
  (cd "$cache" && npm install --no-audit --no-fund --loglevel=error "@openai/codex@$version" >&2)
fi
"$bin" --version >/dev/null
echo "$bin"
