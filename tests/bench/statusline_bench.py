#!/usr/bin/env python3
"""The status line, beside ccusage's, on the same HOME: `telemhq statusline` and
`ccusage statusline` fed Claude Code's statusLine document, with a local store of 0,
100,000 and 1,000,000 turns (a year of them; a small Claude Code history for ccusage to
read). Median wall time and peak memory per call.

Usage (after `cargo build --release`):
  python3 tests/bench/statusline_bench.py [--runs 30] [--bin target/release/telemhq]
"""
import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).parent))
import store_bench  # noqa: E402


def timed(cmd, env, stdin, runs):
    """Median seconds of `runs` calls (started with posix_spawn) and the largest peak RSS
    (MiB) of three more."""
    times, peaks = [], []
    devnull = os.open(os.devnull, os.O_WRONLY)
    for _ in range(runs):
        r, w = os.pipe()
        t = time.perf_counter()
        pid = os.posix_spawn(cmd[0], cmd, env, file_actions=[
            (os.POSIX_SPAWN_DUP2, r, 0), (os.POSIX_SPAWN_DUP2, devnull, 1),
            (os.POSIX_SPAWN_DUP2, devnull, 2), (os.POSIX_SPAWN_CLOSE, w)])
        os.close(r)
        os.write(w, stdin)
        os.close(w)
        os.waitpid(pid, 0)
        times.append(time.perf_counter() - t)
    os.close(devnull)
    # Peak memory from GNU time, which forks itself (a small process) before it runs the
    # command: a child of this Python process would carry Python's own peak in its count.
    out = tempfile.mktemp()
    for _ in range(3):
        p = subprocess.run(["/usr/bin/time", "-o", out, "-f", "%M", *cmd], env=env, input=stdin,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        peaks.append(int(Path(out).read_text().split()[-1]) / 1024)
    os.remove(out)
    return statistics.median(times), max(peaks)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--bin", default=str(ROOT / "target/release/telemhq"))
    args = ap.parse_args()
    ccusage = subprocess.run(["bash", str(ROOT / "tests/e2e/agent-cli.sh"), "ccusage"],
                             check=True, capture_output=True, text=True).stdout.strip()
    stdin = (ROOT / "tests/data/statusline/claude-code-2.1.json").read_bytes()
    rng = random.Random(7)
    work = Path(tempfile.mkdtemp(prefix="telemhq-statusline-bench-"))
    try:
        home = work / "home"
        # A small real-shaped history: what ccusage reads, and the store's schema.
        store_bench.generate(home, 0.01, rng, 0.0)
        node = shutil.which("node") or "/usr/bin/node"
        env = {"HOME": str(home), "PATH": f"{os.path.dirname(node)}:/usr/bin:/bin", "LANG": "C.UTF-8",
               "TZ": "UTC"}
        subprocess.run([args.bin, "install", "--global"], env=env, check=True, capture_output=True)
        subprocess.run([args.bin, "import"], env=env, check=True, capture_output=True)
        state = home / ".claude/hooks/telemhq.d"
        db = state / "telemhq.db"
        schema_from = work / "schema.db"
        shutil.copy(db, schema_from)
        for turns in (0, 100_000, 1_000_000):
            for f in state.glob("telemhq.db*"):
                f.unlink()
            if turns:
                # The last 360 days up to now: today holds about 1/360 of them.
                start = int(time.time() * 1000) - 359 * 86_400_000
                store_bench.million_turns(schema_from, db, turns, rng, start=start)
            tq, tm = timed([args.bin, "statusline"], env, stdin, args.runs)
            cq, cm = timed([ccusage, "statusline", "--offline", "--no-cache"], env, stdin,
                           max(5, args.runs // 3))
            print(f"{turns:>9} turns: telemhq statusline {tq * 1000:.1f} ms, {tm:.1f} MiB; "
                  f"ccusage statusline {cq * 1000:.0f} ms, {cm:.0f} MiB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
