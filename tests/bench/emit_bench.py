#!/usr/bin/env python3
"""Side-by-side benchmark: `telemhq emit` against the seed's Python hook, on the same
events and the same loopback receiver, in one run. Reports medians and ratios of wall
time and peak memory (max RSS) per event, then emit's time with transcripts of 100 KB,
10 MB and 500 MB (generated in a temporary folder, never committed).

Usage:
  python3 tests/bench/emit_bench.py [--bin target/release/telemhq]
      [--seed ../shared/baseline/telemhq_ping.py] [--runs 100] [--no-transcripts]
      [--hang-runs 2]

Numbers are medians: the machine is shared and noisy, so read ratios, not single runs.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from loopback import MODE, RECEIVED, start as start_receiver

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests/data/claude-code-2.1.328"
EVENTS = ["Stop.json", "PostToolUse-Bash.json", "PostToolUseFailure.json", "StopFailure.json"]


def run_once(argv, stdin_bytes, env):
    """Wall time (ms) and peak RSS (KiB) of one process, from start to exit."""
    # posix_spawn (vfork-style), not fork: a forked child would report this Python
    # process's memory as its own peak.
    read_end, write_end = os.pipe()
    actions = [(os.POSIX_SPAWN_DUP2, read_end, 0), (os.POSIX_SPAWN_CLOSE, write_end),
               (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0),
               (os.POSIX_SPAWN_OPEN, 2, "/dev/null", os.O_WRONLY, 0)]
    start = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, env, file_actions=actions)
    os.close(read_end)
    try:
        os.write(write_end, stdin_bytes)
    except BrokenPipeError:
        pass
    os.close(write_end)
    _, status, usage = os.wait4(pid, 0)
    wall = (time.perf_counter() - start) * 1000
    return wall, usage.ru_maxrss


def peak_rss_kib(argv, stdin_bytes, env):
    """Peak RSS of the command alone, as GNU time reports it. (wait4's figure from a
    process spawned by this one includes this Python process's memory, because Linux
    records the pre-exec image's peak.)"""
    with tempfile.NamedTemporaryFile("r") as out:
        subprocess.run(["/usr/bin/time", "-f", "%M", "-o", out.name] + argv, input=stdin_bytes, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return int(out.read().strip().splitlines()[-1])


def measure(label, argv, events, env, runs):
    walls, rss = [], []
    for i in range(runs):
        w, _ = run_once(argv, events[i % len(events)], env)
        walls.append(w)
    for i in range(min(runs, 20)):
        rss.append(peak_rss_kib(argv, events[i % len(events)], env))
    return {"label": label, "median_ms": statistics.median(walls), "p90_ms": sorted(walls)[int(len(walls) * 0.9) - 1],
            "median_rss_kib": statistics.median(rss), "max_rss_kib": max(rss), "runs": runs}


def show(row):
    print(f"  {row['label']:<34} median {row['median_ms']:8.2f} ms   p90 {row['p90_ms']:8.2f} ms   "
          f"peak RSS median {row['median_rss_kib'] / 1024:6.2f} MiB (max {row['max_rss_kib'] / 1024:.2f})   n={row['runs']}")


def write_transcript(path, size_bytes, prompt_id):
    """A transcript of earlier turns up to `size_bytes`, then the measured turn."""
    fixture_lines = (FIXTURES / "transcript-tool-turn.jsonl").read_text().splitlines()
    filler = []
    for line in fixture_lines:
        entry = json.loads(line)
        if entry.get("type") == "user" and "promptId" in entry:
            entry["promptId"] = "earlier"
        filler.append(json.dumps(entry))
    filler_block = ("\n".join(filler) + "\n").encode()
    with open(path, "wb") as out:
        written = 0
        while written + len(filler_block) < size_bytes:
            out.write(filler_block)
            written += len(filler_block)
        for line in fixture_lines:
            entry = json.loads(line)
            if entry.get("type") == "user" and "promptId" in entry:
                entry["promptId"] = prompt_id
            out.write((json.dumps(entry) + "\n").encode())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=str(ROOT / "target/release/telemhq"))
    ap.add_argument("--seed", default=str(ROOT.parent / "shared/baseline/telemhq_ping.py"))
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--hang-runs", type=int, default=2)
    ap.add_argument("--no-transcripts", action="store_true")
    args = ap.parse_args()
    if not Path(args.bin).exists():
        sys.exit(f"{args.bin} not found: run `cargo build --release` first")
    if not Path(args.seed).exists():
        sys.exit(f"the seed hook {args.seed} is not there: pass --seed PATH")

    url = start_receiver()

    work = Path(tempfile.mkdtemp(prefix="telemhq-bench-"))
    home = work / "home"
    (home / ".claude").mkdir(parents=True)
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "TELEMHQ_PING_URL": url, "LANG": "C.UTF-8"}
    subprocess.run([args.bin, "install", "--global", "--ping-url", url], env=env, check=True,
                   stderr=subprocess.DEVNULL)
    events = [(FIXTURES / e).read_bytes() for e in EVENTS]
    python = shutil.which("python3") or sys.executable
    telemhq = [args.bin, "emit"]
    seed = [python, args.seed]

    # Per-repository trackers: events from a subfolder of a repository with its own tracker
    # (and nine others), routed from the stored config rather than TELEMHQ_PING_URL.
    routed_env = {k: v for k, v in env.items() if k != "TELEMHQ_PING_URL"}
    for i in range(10):
        repo = work / f"repo{i}"
        (repo / ".git").mkdir(parents=True)
        (repo / "src").mkdir()
        subprocess.run([args.bin, "install", "--repo", "--ping-url", url], env=routed_env, cwd=repo,
                       check=True, stderr=subprocess.DEVNULL)
    routed_events = []
    for e in events:
        event = json.loads(e)
        event["cwd"] = str(work / "repo7" / "src")
        routed_events.append(json.dumps(event).encode())

    print(f"Machine: {os.cpu_count()} cores; events: {', '.join(EVENTS)}; receiver on loopback")
    print("\nEndpoint healthy (answers 200):")
    floor = measure("cat (only reads stdin)", ["/bin/cat"], events, env, args.runs)
    t = measure("telemhq emit", telemhq, events, env, args.runs)
    r = measure("telemhq emit, repo tracker", telemhq, routed_events, routed_env, args.runs)
    s = measure("seed telemhq_ping.py", seed, events, env, args.runs)
    show(floor)
    show(t)
    show(r)
    show(s)
    print(f"  => telemhq is {s['median_ms'] / t['median_ms']:.1f}x faster (median), "
          f"{s['median_rss_kib'] / t['median_rss_kib']:.1f}x less peak memory")
    print(f"  => telemhq emit / cat: {t['median_ms'] / floor['median_ms']:.2f}x; "
          f"with a repository's tracker (10 stored): {r['median_ms'] / floor['median_ms']:.2f}x")

    # The other agents' hooks, from their captured payloads (Copilot CLI's adds the marker
    # that drops a second run of the same event).
    data = ROOT / "tests/data"
    gemini = [(data / "gemini-cli-0.61.0" / n).read_bytes() for n in ["AfterAgent.json", "AfterTool.json"]]
    copilot = []
    for n in ["agentStop.json", "postToolUse.json"]:
        event = json.loads((data / "copilot-cli-1.0.102" / n).read_text())
        copilot.append(event)
    def fresh_copilot_events():
        # A new timestamp per run: each run is a new event, not a duplicate.
        out = []
        for i in range(args.runs):
            e = dict(copilot[i % len(copilot)])
            e["timestamp"] = e["timestamp"] + 1 + i
            out.append(json.dumps(e).encode())
        return out
    g = measure("telemhq emit --agent gemini", telemhq + ["--agent", "gemini"], gemini, env, args.runs)
    c = measure("telemhq emit --agent copilot --event agentStop",
                telemhq + ["--agent", "copilot", "--event", "agentStop"], fresh_copilot_events(), env, args.runs)
    show(g)
    show(c)
    print(f"  => against cat: Gemini CLI hook {g['median_ms'] / floor['median_ms']:.2f}x, "
          f"Copilot CLI hook {c['median_ms'] / floor['median_ms']:.2f}x")

    print("\nA scheduled job: `telemhq run -- true` (run ping delivered before it exits) against `true`:")
    bare = measure("true", ["/bin/true"], [b""], env, args.runs)
    wrapped = measure("telemhq run -- true", [args.bin, "run", "--ping-url", url, "--", "/bin/true"],
                      [b""], env, args.runs)
    show(bare)
    show(wrapped)
    print(f"  => telemhq run adds {wrapped['median_ms'] - bare['median_ms']:.2f} ms (median)")

    if args.hang_runs:
        MODE["mode"] = "hang"
        print("\nEndpoint hangs (accepts, never answers):")
        th = measure("telemhq emit", telemhq, events, env, max(args.hang_runs, 5))
        sh = measure("seed telemhq_ping.py", seed, events, env, args.hang_runs)
        show(th)
        show(sh)
        print(f"  => telemhq is {sh['median_ms'] / th['median_ms']:.0f}x faster (median)")
        MODE["mode"] = "ok"

    if not args.no_transcripts:
        print("\nStop with usage from the transcript. `emit` queues the event and the sender reads the")
        print("transcript later; `emit --print` reads it in the foreground, so it measures that read:")
        rows = []
        for label, size in [("100 KB", 100_000), ("10 MB", 10_000_000), ("500 MB", 500_000_000)]:
            path = work / f"transcript-{label.replace(' ', '')}.jsonl"
            write_transcript(path, size, "bench-prompt")
            stop = json.loads((FIXTURES / "transcript-tool-turn.stop.json").read_text())
            stop["transcript_path"] = str(path)
            stop["prompt_id"] = "bench-prompt"
            payload = subprocess.run([args.bin, "emit", "--print"], input=json.dumps(stop).encode(),
                                     env=env, capture_output=True, check=True).stdout
            assert json.loads(payload).get("api_calls") == 2, payload
            event = [json.dumps(stop).encode()]
            show(measure(f"emit, transcript {label}", telemhq, event, env, args.runs))
            row = measure(f"emit --print, transcript {label}", [args.bin, "emit", "--print"], event, env, args.runs)
            rows.append(row)
            show(row)
            path.unlink()
        print(f"  => reading the turn's usage, 500 MB / 100 KB median time: {rows[2]['median_ms'] / rows[0]['median_ms']:.2f}x")

    time.sleep(1)
    print(f"\nPings received by the loopback endpoint: {RECEIVED['count']}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
