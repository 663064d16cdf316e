#!/usr/bin/env python3
"""A/B: `telemhq emit` of two builds (say, before and after a change) and `cat`, on the
same events, interleaved run by run in one process so that the machine's noise falls on
all of them alike. Prints medians and the ratio to `cat` for each agent's hook.

Usage:
  python3 tests/bench/emit_ab.py OLD_BIN NEW_BIN [--runs 300]
"""
import argparse
import json
import statistics
import subprocess
import tempfile
from pathlib import Path

from emit_bench import FIXTURES, ROOT, run_once
from loopback import start as start_receiver


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--runs", type=int, default=300)
    args = ap.parse_args()
    url = start_receiver()
    data = ROOT / "tests/data"
    cases = [
        ("Claude Code Stop", [], (FIXTURES / "Stop.json").read_bytes()),
        ("Claude Code PostToolUse", [], (FIXTURES / "PostToolUse-Bash.json").read_bytes()),
        ("Codex Stop", ["--agent", "codex"], (data / "codex-0.169.0/Stop.json").read_bytes()),
        ("Gemini CLI AfterAgent", ["--agent", "gemini"], (data / "gemini-cli-0.61.0/AfterAgent.json").read_bytes()),
    ]
    copilot = json.loads((data / "copilot-cli-1.0.102/agentStop.json").read_text())
    print(f"{'hook':<26} {'cat':>8} {'old':>8} {'new':>8}  old/cat new/cat new/old")
    homes = {}
    for name, binary in (("old", args.old), ("new", args.new)):
        home = Path(tempfile.mkdtemp(prefix=f"telemhq-ab-{name}-")) / "home"
        (home / ".claude").mkdir(parents=True)
        env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
        subprocess.run([binary, "install", "--global", "--ping-url", url], env=env, check=True,
                       stderr=subprocess.DEVNULL)
        homes[name] = env
    cases.append(("Copilot CLI agentStop", ["--agent", "copilot", "--event", "agentStop"], None))
    for label, extra, payload in cases:
        times = {"cat": [], "old": [], "new": []}
        for i in range(args.runs):
            if payload is None:
                e = dict(copilot)
                e["timestamp"] = e["timestamp"] + 1 + i
                body = json.dumps(e).encode()
            else:
                body = payload
            times["cat"].append(run_once(["/bin/cat"], body, homes["old"])[0])
            times["old"].append(run_once([args.old, "emit"] + extra, body, homes["old"])[0])
            times["new"].append(run_once([args.new, "emit"] + extra, body, homes["new"])[0])
        m = {k: statistics.median(v) for k, v in times.items()}
        print(f"{label:<26} {m['cat']:7.2f}  {m['old']:7.2f}  {m['new']:7.2f}   "
              f"{m['old'] / m['cat']:5.2f}x  {m['new'] / m['cat']:5.2f}x  {m['new'] / m['old']:5.2f}x")


if __name__ == "__main__":
    main()
