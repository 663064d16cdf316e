#!/usr/bin/env python3
"""emit against the floor: a process that only reads stdin (`cat`), on each agent's
captured payload, interleaved run by run. Three situations:

- healthy endpoint: the senders each emit starts deliver to a loopback receiver;
- hanging endpoint: the receiver reads each ping and never answers;
- the queue: emit with 1,000 events pending against emit with an empty queue (the
  sender lock held by this script, so that nothing drains the queue meanwhile).

Prints medians (ms), ratios to `cat`, and emit's peak RSS.

Usage (the release binary is built static, as it is distributed):
  RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --target x86_64-unknown-linux-gnu
  python3 tests/bench/emit_floor.py [--bin target/x86_64-unknown-linux-gnu/release/telemhq] [--runs 200]
"""
import argparse
import fcntl
import json
import os
import signal
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path

from emit_bench import ROOT, peak_rss_kib, run_once
from loopback import MODE, start as start_receiver

DATA = ROOT / "tests/data"


def cases():
    copilot = json.loads((DATA / "copilot-cli-1.0.102/agentStop.json").read_text())
    n = {"i": 0}

    def copilot_event():
        # Each run a new event: Copilot CLI's duplicate marker is written every time.
        n["i"] += 1
        e = dict(copilot)
        e["timestamp"] = copilot["timestamp"] + n["i"]
        return json.dumps(e).encode()

    fixed = lambda path: (lambda body=(DATA / path).read_bytes(): body)
    cursor = json.loads((DATA / "cursor-documented/stop.json").read_text())

    def cursor_event():
        # Each run a new turn: an event already taken is dropped at once.
        n["i"] += 1
        e = dict(cursor)
        e["generation_id"] = f"{cursor['generation_id']}-{n['i']}"
        return json.dumps(e).encode()

    # Droid's Stop reads the session's running totals when it runs: point it at a real one.
    droid = json.loads((DATA / "droid-0.225.2/Stop.json").read_text())
    droid["transcript_path"] = str(DATA / "droid-0.225.2/session-exec.jsonl")
    droid_body = json.dumps(droid).encode()
    return [
        ("Claude Code Stop", [], fixed("claude-code-2.1.328/Stop.json")),
        ("Claude Code PostToolUse", [], fixed("claude-code-2.1.328/PostToolUse-Bash.json")),
        ("Codex Stop", ["--agent", "codex"], fixed("codex-0.169.0/Stop.json")),
        ("Gemini CLI AfterAgent", ["--agent", "gemini"], fixed("gemini-cli-0.61.0/AfterAgent.json")),
        ("Copilot CLI agentStop", ["--agent", "copilot", "--event", "agentStop"], copilot_event),
        ("Qwen Code Stop", ["--agent", "qwen"], fixed("qwen-code-0.24.4/Stop.json")),
        ("Factory Droid Stop", ["--agent", "droid"], lambda: droid_body),
        ("Cursor stop", ["--agent", "cursor", "--event", "stop"], cursor_event),
    ]


HOME_ROOT = {"dir": None}


def home_with(binary, url):
    home = Path(tempfile.mkdtemp(prefix="telemhq-floor-", dir=HOME_ROOT["dir"])) / "home"
    (home / ".claude").mkdir(parents=True)
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    subprocess.run([binary, "install", "--global", "--ping-url", url], env=env, check=True,
                   stderr=subprocess.DEVNULL)
    return home, env


def fill_queue(home, n):
    queue = home / ".claude/hooks/telemhq.d/queue"
    queue.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        eid = f"00000000-0000-4000-8000-{i:012}"
        body = json.dumps({"event_id": eid, "queued_at": "2026-11-25T00:00:00.000Z",
                           "payload": {"event": "SessionStart", "event_id": eid}}).encode()
        (queue / f"{1_000_000 + i:020}-{len(body)}-{eid}.json").write_bytes(body)


def clear_queue(home, keep):
    queue = home / ".claude/hooks/telemhq.d/queue"
    if not queue.is_dir():
        return
    for p in sorted(queue.iterdir()):
        if p.name not in keep:
            p.unlink()


def stop_senders(homes):
    """Stops the senders started here (found by their HOME): after the hanging phase they
    would go on retrying in the background and weigh on the next run."""
    wanted = {f"HOME={h}".encode() for h in homes}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            environ = set(Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"))
        except OSError:
            continue
        if environ & wanted:
            try:
                os.kill(int(pid), signal.SIGTERM)
            except OSError:
                pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=str(ROOT / "target/x86_64-unknown-linux-gnu/release/telemhq"))
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--home-root", help="where the test HOMEs go (default: the temp folder)")
    args = ap.parse_args()
    HOME_ROOT["dir"] = args.home_root
    url = start_receiver()
    home, env = home_with(args.bin, url)
    print(f"binary: {args.bin}")
    print(f"{'hook':<26} {'cat':>6} {'emit':>6} {'ratio':>6}   {'hanging':>7} {'ratio':>6}")
    for label, extra, body in cases():
        times = {"cat": [], "ok": [], "cat2": [], "hang": []}
        MODE["mode"] = "ok"
        for _ in range(args.runs):
            b = body()
            times["cat"].append(run_once(["/bin/cat"], b, env)[0])
            times["ok"].append(run_once([args.bin, "emit"] + extra, b, env)[0])
        MODE["mode"] = "hang"
        for _ in range(args.runs):
            b = body()
            times["cat2"].append(run_once(["/bin/cat"], b, env)[0])
            times["hang"].append(run_once([args.bin, "emit"] + extra, b, env)[0])
        m = {k: statistics.median(v) for k, v in times.items()}
        print(f"{label:<26} {m['cat']:6.2f} {m['ok']:6.2f} {m['ok'] / m['cat']:5.2f}x   "
              f"{m['hang']:7.2f} {m['hang'] / m['cat2']:5.2f}x")
    MODE["mode"] = "ok"

    # The queue: 1,000 pending against none, nothing draining meanwhile (the sender lock
    # held here), interleaved run by run.
    homes, locks = {}, []
    for kind in ("empty", "full"):
        qhome, qenv = home_with(args.bin, url)
        lock = open(qhome / ".claude/hooks/telemhq.d/sender.lock", "a")
        fcntl.flock(lock, fcntl.LOCK_EX)
        locks.append(lock)
        if kind == "full":
            fill_queue(qhome, 1000)
        queue = qhome / ".claude/hooks/telemhq.d/queue"
        homes[kind] = (qhome, qenv, {p.name for p in queue.iterdir()} if queue.is_dir() else set())
    event = (DATA / "claude-code-2.1.328/Stop.json").read_bytes()
    times = {"empty": [], "full": [], "cat": []}
    for _ in range(args.runs):
        for kind in ("empty", "full"):
            qhome, qenv, keep = homes[kind]
            clear_queue(qhome, keep)
            times[kind].append(run_once([args.bin, "emit"], event, qenv)[0])
        times["cat"].append(run_once(["/bin/cat"], event, env)[0])
    e, f, c = (statistics.median(times[k]) for k in ("empty", "full", "cat"))
    print(f"queue: empty {e:.2f} ms, 1,000 pending {f:.2f} ms ({f / e:.2f}x); cat {c:.2f} ms")
    print(f"peak RSS of emit: {peak_rss_kib([args.bin, 'emit'], event, homes['full'][1]) / 1024:.1f} MiB")
    for lock in locks:
        lock.close()
    stop_senders([home] + [h for h, _, _ in homes.values()])
    for h in [home] + [h for h, _, _ in homes.values()]:
        shutil.rmtree(h.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
