#!/usr/bin/env python3
"""How many StopFailure events of headless Claude Code runs reach the endpoint: a headless
`claude -p` that ends with an API error signals its StopFailure hook's process group as it
exits, tens of milliseconds after starting it. Counts, side by side, for telemhq's hook
command, the first release's command (no `trap '' TERM HUP`, same binary) and the seed's
Python hook, optionally with busy loops on every core to stand in for a loaded machine.

Usage:
  python3 tests/bench/stopfailure_survival.py [--turns 100] [--load 2]
      [--bin target/release/telemhq] [--seed ../shared/baseline/telemhq_ping.py]
      [--mock-api ../shared/e2e/mock_anthropic.py]
"""
import argparse
import json
import multiprocessing
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from claude_code_hooks import ROOT, start_claude_and_api
from loopback import RECEIVED

FIRST_RELEASE_COMMAND = '"${CLAUDE_CONFIG_DIR:-$HOME/.claude}/hooks/telemhq" emit || true'


def busy():
    while True:
        pass


def settings_with(home, command):
    handler = [{"matcher": "*", "hooks": [{"type": "command", "command": command, "timeout": 5}]}]
    (home / ".claude/settings.json").write_text(json.dumps({"hooks": {"StopFailure": handler}}))


def run(claude, api_port, url, hook, turns, work, binary, seed):
    home, project = work / f"home-{hook}", work / f"project-{hook}"
    (home / ".claude").mkdir(parents=True)
    project.mkdir()
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8",
           "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{api_port}", "ANTHROPIC_API_KEY": "sk-ant-bench",
           "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_AUTOUPDATER": "1",
           "DISABLE_TELEMETRY": "1", "DISABLE_ERROR_REPORTING": "1", "TELEMHQ_PING_URL": url}
    if hook == "seed":
        settings_with(home, f"python3 {seed}")
    else:
        subprocess.run([binary, "install", "--global", "--ping-url", url], env=env, check=True,
                       stderr=subprocess.DEVNULL)
        if hook == "first-release":
            settings_with(home, FIRST_RELEASE_COMMAND)
    before = RECEIVED["count"]
    for _ in range(turns):
        subprocess.run([claude, "-p", "ERROR:400 please"], cwd=project, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
    if hook != "seed":
        subprocess.run([binary, "flush", "--wait", "20"], env=env, stdout=subprocess.DEVNULL)
    time.sleep(1)
    return RECEIVED["count"] - before


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--turns", type=int, default=100)
    ap.add_argument("--load", type=int, default=0, help="busy loops running beside the turns")
    ap.add_argument("--bin", default=str(ROOT / "target/release/telemhq"))
    ap.add_argument("--seed", default=str(ROOT.parent / "shared/baseline/telemhq_ping.py"))
    ap.add_argument("--mock-api", default=str(ROOT.parent / "shared/e2e/mock_anthropic.py"))
    args = ap.parse_args()
    claude, api, api_port, url = start_claude_and_api(args)
    loaders = [multiprocessing.Process(target=busy, daemon=True) for _ in range(args.load)]
    for p in loaders:
        p.start()
    work = Path(tempfile.mkdtemp(prefix="telemhq-stopfailure-bench-"))
    try:
        print(f"StopFailure events delivered of {args.turns} headless API-error turns "
              f"({args.load} busy loops beside them):")
        for hook in ("telemhq", "first-release", "seed"):
            got = run(claude, api_port, url, hook, args.turns, work, args.bin, args.seed)
            print(f"  {hook:<14} {got:4d} / {args.turns}")
    finally:
        for p in loaders:
            p.terminate()
        api.terminate()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
