#!/usr/bin/env python3
"""How long the Stop hook holds each turn, as the real Claude Code measures it
(`stop_hook_summary.durationMs` in its transcript): telemhq against the seed's Python
hook, side by side, with the ping endpoint healthy and hanging.

Usage:
  python3 tests/bench/claude_code_hooks.py [--turns 5] [--bin target/release/telemhq]
      [--seed ../shared/baseline/telemhq_ping.py] [--mock-api ../shared/e2e/mock_anthropic.py]

Claude Code comes from tests/e2e/claude-code.sh (pinned, from the npm registry). The mock
Anthropic API is the reference one in shared/e2e by default (pass --mock-api to use another).
"""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from loopback import MODE, start as start_receiver

ROOT = Path(__file__).resolve().parents[2]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def durations(home):
    out = []
    for path in sorted((home / ".claude/projects").rglob("*.jsonl")):
        for line in path.read_text().splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("type") == "system" and entry.get("subtype") == "stop_hook_summary":
                out += [info.get("durationMs") for info in entry.get("hookInfos", [])]
    return out


def run_turns(claude, api_port, url, hook, turns, work, label):
    home = work / f"home-{label}"
    project = work / f"project-{label}"
    (home / ".claude").mkdir(parents=True)
    project.mkdir()
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "TELEMHQ_PING_URL": url,
           "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{api_port}", "ANTHROPIC_API_KEY": "sk-ant-bench",
           "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_AUTOUPDATER": "1",
           "DISABLE_TELEMETRY": "1", "DISABLE_ERROR_REPORTING": "1"}
    if hook == "seed":
        command = f"python3 {SEED}"
        settings = {"hooks": {"Stop": [{"hooks": [{"type": "command", "command": command, "timeout": 30}]}]}}
        (home / ".claude/settings.json").write_text(json.dumps(settings))
    else:
        subprocess.run([BIN, "install", "--global", "--ping-url", url], env=env, check=True,
                       stderr=subprocess.DEVNULL)
    for _ in range(turns):
        subprocess.run([claude, "-p", "hello"], cwd=project, env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=120)
    return durations(home)


def start_claude_and_api(args):
    """Checks the paths in args, fetches the pinned Claude Code, starts the mock API and
    the loopback receiver; returns (claude, api process, api port, ping URL)."""
    for p in (args.bin, args.seed, args.mock_api):
        if not Path(p).exists():
            sys.exit(f"{p} not found")
    claude = subprocess.run(["bash", str(ROOT / "tests/e2e/claude-code.sh")], capture_output=True,
                            text=True, check=True).stdout.strip()
    api_port = free_port()
    api = subprocess.Popen([sys.executable, args.mock_api, str(api_port)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = start_receiver()
    time.sleep(0.5)
    return claude, api, api_port, url


def main():
    global BIN, SEED
    ap = argparse.ArgumentParser()
    ap.add_argument("--turns", type=int, default=5)
    ap.add_argument("--bin", default=str(ROOT / "target/release/telemhq"))
    ap.add_argument("--seed", default=str(ROOT.parent / "shared/baseline/telemhq_ping.py"))
    ap.add_argument("--mock-api", default=str(ROOT.parent / "shared/e2e/mock_anthropic.py"))
    args = ap.parse_args()
    BIN, SEED = args.bin, args.seed
    claude, api, api_port, url = start_claude_and_api(args)
    work = Path(tempfile.mkdtemp(prefix="telemhq-cc-bench-"))
    try:
        print(f"Stop hook duration as Claude Code measured it, {args.turns} headless turns each (ms):")
        for mode in ("ok", "hang"):
            MODE["mode"] = mode
            rows = {}
            for hook in ("telemhq", "seed"):
                turns = args.turns if (mode == "ok" or hook == "telemhq") else min(args.turns, 2)
                d = run_turns(claude, api_port, url, hook, turns, work, f"{hook}-{mode}")
                rows[hook] = d
                print(f"  endpoint {mode:<4} {hook:<8} median {statistics.median(d):8.0f}   all {d}")
            print(f"  => endpoint {mode}: telemhq {statistics.median(rows['seed']) / statistics.median(rows['telemhq']):.0f}x faster")
    finally:
        api.terminate()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
