#!/usr/bin/env bash
# Installs a pinned coding-agent CLI from the npm registry into a cache folder outside the
# repository, once, and prints the path of its command. Each is the real published CLI.
#   tests/e2e/agent-cli.sh codex|gemini|copilot|qwen|droid|ccusage [VERSION]
# (ccusage is not an agent: the usage tool telemhq's costs are compared with.)
# Cache: $TELEMHQ_E2E_CACHE, else ${XDG_CACHE_HOME:-$HOME/.cache}/telemhq-e2e
set -euo pipefail
agent="${1:?usage: agent-cli.sh codex|gemini|copilot|qwen|droid|ccusage [VERSION]}"
extra=""
rel=""
case "$agent" in
  codex)   pkg=@openai/codex;      version="${2:-0.169.0}"; bin=codex ;;   # native binary in an optional dependency
  gemini)  pkg=@google/gemini-cli; version="${2:-0.61.0}";  bin=gemini ;;  # JavaScript, node >= 20
  copilot) pkg=@github/copilot;    version="${2:-1.0.102}"; bin=copilot ;; # native binary in an optional dependency
  qwen)    pkg=@qwen-code/qwen-code; version="${2:-0.24.4}"; bin=qwen ;;  # JavaScript; engines says node >= 22, runs on 20
  # The registry serves the wrapper @factory/cli only at a version whose platform package it
  # lacks: the native binary's own package is installed (it has no .bin link).
  droid)   pkg=@factory/cli-linux-x64; version="${2:-0.225.2}"; bin=droid
           rel=node_modules/@factory/cli-linux-x64/bin/droid ;;
  # Its native binary is an optional dependency pinned to the same version: named too, so
  # that it is installed (and a newer main package without it is never taken).
  ccusage) pkg=ccusage;            version="${2:-20.0.24}"; bin=ccusage
           extra="@ccusage/ccusage-linux-x64@$version" ;;
  *) echo "unknown agent: $agent (codex, gemini, copilot, qwen, droid or ccusage)" >&2; exit 2 ;;
esac
cache="${TELEMHQ_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/telemhq-e2e}/$agent-$version"
path="$cache/${rel:-node_modules/.bin/$bin}"
if [ ! -x "$path" ]; then
  command -v npm >/dev/null || { echo "npm is not installed: cannot fetch $pkg" >&2; exit 3; }
  mkdir -p "$cache"
  # shellcheck disable=SC2086
  (cd "$cache" && npm_config_cache="$cache/../npm-cache" npm install --no-audit --no-fund --loglevel=error "$pkg@$version" $extra >&2)
fi
# (Run with a HOME of its own: an agent writes into its HOME even for --version.)
scratch="$(mktemp -d)"; trap 'rm -rf "$scratch"' EXIT
HOME="$scratch" XDG_CONFIG_HOME="$scratch/.config" XDG_CACHE_HOME="$scratch/.cache" \
  XDG_DATA_HOME="$scratch/.local/share" XDG_STATE_HOME="$scratch/.local/state" \
  "$path" --version >/dev/null
echo "$path"
