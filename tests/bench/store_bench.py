#!/usr/bin/env python3
"""The local store, side by side with ccusage, in one run:

- `telemhq import` of a large generated history (Claude Code transcripts written the way
  Claude Code writes them: compact JSON, a message streamed over several lines, tool
  results, sub-agents; and Codex rollouts) against `ccusage daily --json --offline` on
  the same files;
- a re-import with nothing new;
- `telemhq report daily` over a store of one million turns.

Prints medians. Usage (after `cargo build --release`):
  python3 tests/bench/store_bench.py [--gb 1.0] [--runs 3] [--turns 1000000]
      [--bin target/release/telemhq] [--ccusage PATH]
"""
import argparse
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODELS = ["claude-sonnet-4-5-20250929", "claude-opus-4-1-20250805", "claude-haiku-4-5-20251001"]
WORDS = "the of and to in is that for it with as was on be by this are from or have an".split()


def text(rng, size):
    out, n = [], 0
    while n < size:
        w = rng.choice(WORDS)
        out.append(w)
        n += len(w) + 1
    return " ".join(out)


def compact(v):
    return json.dumps(v, separators=(",", ":"))


def claude_session(rng, sid, cwd, day, turns, sub_dir, old=False):
    """A session as today's Claude Code writes it, or (old) as 1.0.x to 2.1.2x did: no
    `promptId`, sub-agents as side-chain lines in the main transcript."""
    lines = []
    version = "1.0.100" if old else "2.1.328"
    t0 = time.mktime(time.strptime(day, "%Y-%m-%d"))
    at = lambda s: time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(t0 + s))
    sec = rng.randint(0, 40000)
    for n in range(turns):
        pid = f"{sid[:8]}-p{n}"
        prompt = {"parentUuid": None, "isSidechain": False, "promptId": pid, "type": "user",
            "message": {"role": "user", "content": text(rng, rng.randint(100, 1500))},
            "uuid": f"{pid}-u", "timestamp": at(sec), "cwd": cwd, "sessionId": sid,
            "version": version, "gitBranch": "main"}
        if old:
            del prompt["promptId"]
        lines.append(compact(prompt))
        for call in range(rng.randint(1, 4)):
            sec += rng.randint(2, 30)
            mid = f"msg_{sid[:8]}_{n}_{call}"
            usage = {"input_tokens": rng.randint(1, 5000), "cache_read_input_tokens": rng.randint(0, 150000),
                     "cache_creation_input_tokens": rng.randint(0, 20000), "output_tokens": rng.randint(10, 4000),
                     "service_tier": "standard"}
            model = rng.choice(MODELS)
            blocks = [{"type": "thinking", "thinking": text(rng, 600), "signature": "x" * 200},
                      {"type": "text", "text": text(rng, rng.randint(200, 3000))},
                      {"type": "tool_use", "id": f"toolu_{mid}", "name": "Bash", "input": {"command": text(rng, 80)}}]
            for b in blocks:
                lines.append(compact({"parentUuid": f"{pid}-u", "isSidechain": False, "type": "assistant",
                    "message": {"id": mid, "model": model, "role": "assistant", "type": "message",
                                "content": [b], "stop_reason": None, "usage": usage},
                    "requestId": f"req_{mid}", "uuid": f"{mid}-{b['type']}", "timestamp": at(sec),
                    "cwd": cwd, "sessionId": sid, "version": version}))
            lines.append(compact({"parentUuid": f"{mid}-tool_use", "isSidechain": False, "type": "user",
                "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": f"toolu_{mid}",
                                                          "content": text(rng, rng.randint(500, 20000))}]},
                "toolUseResult": {"stdout": "", "stderr": ""}, "uuid": f"{mid}-r", "timestamp": at(sec + 1),
                "cwd": cwd, "sessionId": sid, "version": version}))
        if old and rng.random() < 0.1:
            root = f"{pid}-task"
            lines.append(compact({"parentUuid": None, "isSidechain": True, "type": "user",
                "message": {"role": "user", "content": text(rng, 300)}, "uuid": root,
                "timestamp": at(sec), "cwd": cwd, "sessionId": sid, "version": version}))
            lines.append(compact({"parentUuid": root, "isSidechain": True, "type": "assistant",
                "message": {"id": f"msg_{sid[:8]}_{n}_side", "model": MODELS[2], "role": "assistant",
                            "content": [{"type": "text", "text": text(rng, 800)}], "stop_reason": "end_turn",
                            "usage": {"input_tokens": 900, "output_tokens": 300}},
                "requestId": f"req_{sid[:8]}_{n}_side", "uuid": f"{pid}-side", "timestamp": at(sec),
                "cwd": cwd, "sessionId": sid, "version": version}))
        elif rng.random() < 0.1:
            sub = [compact({"isSidechain": True, "type": "assistant", "agentId": "a1",
                "message": {"id": f"msg_{sid[:8]}_{n}_sub", "model": MODELS[2], "role": "assistant",
                            "content": [{"type": "text", "text": text(rng, 800)}],
                            "usage": {"input_tokens": 900, "output_tokens": 300}},
                "requestId": f"req_{sid[:8]}_{n}_sub", "timestamp": at(sec), "sessionId": sid})]
            sub_dir.mkdir(parents=True, exist_ok=True)
            with open(sub_dir / f"agent-{n}.jsonl", "a") as f:
                f.write("\n".join(sub) + "\n")
    return "\n".join(lines) + "\n"


def codex_rollout(rng, sid, day, turns, old=False):
    """A rollout with turn ids, or (old) as Codex before them wrote it: a turn from one
    user message to the next, each token count repeated once (as after a tool call)."""
    out = [compact({"timestamp": f"{day}T08:00:00.000Z", "type": "session_meta",
                    "payload": {"id": sid, "cwd": "/home/dev/web", "cli_version": "0.60.0"}})]
    tot = [0, 0, 0]
    for i in range(turns):
        inp, cached, outp = rng.randint(1000, 90000), 0, rng.randint(100, 5000)
        cached = rng.randint(0, inp)
        tot = [tot[0] + inp, tot[1] + cached, tot[2] + outp]
        ts = f"{day}T09:{i % 60:02d}:00.000Z"
        if old:
            out.append(compact({"timestamp": ts, "type": "event_msg", "payload": {"type": "user_message", "message": text(rng, 200)}}))
            out.append(compact({"timestamp": ts, "type": "turn_context", "payload": {"model": "gpt-5-codex", "cwd": "/home/dev/web"}}))
        else:
            out.append(compact({"timestamp": ts, "type": "event_msg", "payload": {"type": "task_started", "turn_id": f"t{i}"}}))
            out.append(compact({"timestamp": ts, "type": "turn_context", "payload": {"turn_id": f"t{i}", "model": "gpt-5-codex", "cwd": "/home/dev/web"}}))
        out.append(compact({"timestamp": ts, "type": "response_item", "payload": {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": text(rng, 3000)}]}}))
        count = compact({"timestamp": ts, "type": "event_msg", "payload": {"type": "token_count", "info": {
            "total_token_usage": {"input_tokens": tot[0], "cached_input_tokens": tot[1], "output_tokens": tot[2], "reasoning_output_tokens": 0, "total_tokens": tot[0] + tot[2]},
            "last_token_usage": {"input_tokens": inp, "cached_input_tokens": cached, "output_tokens": outp, "reasoning_output_tokens": 0, "total_tokens": inp + outp}}}})
        out.extend([count, count] if old else [count])
        if not old:
            out.append(compact({"timestamp": ts, "type": "event_msg", "payload": {"type": "task_complete", "turn_id": f"t{i}"}}))
    return "\n".join(out) + "\n"


def generate(home, gb, rng, old_share):
    target = int(gb * 1024 ** 3)
    written, n = 0, 0
    while written < target:
        day = f"2026-{rng.randint(6, 11):02d}-{rng.randint(1, 28):02d}"
        if n % 10 == 9:
            sid = f"019a{n:04x}-0000-7000-8000-{n:012x}"
            d = home / ".codex/sessions" / day.replace("-", "/")
            d.mkdir(parents=True, exist_ok=True)
            body = codex_rollout(rng, sid, day, rng.randint(5, 60), old=rng.random() < old_share)
            (d / f"rollout-{day}T09-00-00-{sid}.jsonl").write_text(body)
        else:
            sid = f"{n:08x}-1111-4111-8111-{n:012x}"
            proj = home / ".claude/projects" / f"-home-dev-proj{n % 25}"
            proj.mkdir(parents=True, exist_ok=True)
            body = claude_session(rng, sid, f"/home/dev/proj{n % 25}", day, rng.randint(3, 40),
                                  proj / sid / "subagents", old=rng.random() < old_share)
            (proj / f"{sid}.jsonl").write_text(body)
        written += len(body)
        n += 1
    return written, n


def timed(cmd, env, runs, before=None, peaks=None):
    """Median wall time of `runs` runs; the peak resident memory of each (its process
    tree's largest) goes into `peaks`."""
    import resource
    out = []
    for _ in range(runs):
        if before:
            before()
        t = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
            os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
            os.execvpe(cmd[0], cmd, env)
        _, status, usage = os.wait4(pid, 0)
        out.append(time.perf_counter() - t)
        if peaks is not None:
            peaks.append(usage.ru_maxrss / 1024)
        if status != 0:
            raise SystemExit(f"{cmd} failed ({status})")
    return statistics.median(out), out


def million_turns(db_from, db_to, turns, rng, start=1764547200000):
    """A store of `turns` turns over 360 days from `start` (Unix ms; 2025-12-01 by
    default): the schema and a real payload from an import, the numbers and days
    varied."""
    src = sqlite3.connect(db_from)
    schema = [r[0] for r in src.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL")]
    version = src.execute("PRAGMA user_version").fetchone()[0]
    sample = src.execute("SELECT payload FROM payloads LIMIT 1").fetchone()[0]
    src.close()
    if os.path.exists(db_to):
        os.remove(db_to)
    dst = sqlite3.connect(db_to)
    for s in schema:
        dst.execute(s)
    dst.execute(f"PRAGMA user_version = {version}")
    events, payloads, models = [], [], []

    def flush():
        dst.executemany("INSERT INTO events (id, uid, event_id, at_ms, tool, event, turn, status, session, project, "
                        "model, input, output, cache_read, cache_write, reasoning, cost_usd, unpriced, tool_calls, "
                        "source, state, tracker, note) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", events)
        dst.executemany("INSERT INTO payloads (id, payload) VALUES (?, ?)", payloads)
        dst.executemany("INSERT INTO models (id, model, input, output, cache_read, cache_write, reasoning, "
                        "cost_usd, at_ms, turn, tool, project, status, tool_calls, session) "
                        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", models)
        events.clear(), payloads.clear(), models.clear()

    for i in range(turns):
        uid = f"{i:032x}"
        at = start + rng.randint(0, 360 * 86400000)
        m = rng.choice(MODELS)
        figures = (rng.randint(1, 5000), rng.randint(1, 4000), rng.randint(0, 150000), rng.randint(0, 20000), 0)
        cost = rng.random() / 10
        project, calls = f"proj{i % 25}", rng.randint(0, 5)
        events.append((i + 1, uid, f"e{i}", at, "claude-code", "Stop", 1, "success", f"s{i // 30}", project, m,
                       *figures, cost, None, calls, "import", "local", None, None))
        payloads.append((i + 1, sample))
        models.append((i + 1, m, *figures, cost, at, 1, "claude-code", project, "success", calls, f"s{i // 30}"))
        if len(events) == 50000:
            flush()
    flush()
    dst.commit()
    dst.close()
    os.chmod(db_to, 0o600)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gb", type=float, default=1.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--turns", type=int, default=1_000_000)
    ap.add_argument("--bin", default=str(ROOT / "target/release/telemhq"))
    ap.add_argument("--ccusage")
    ap.add_argument("--old", type=float, default=0.3,
                    help="the share of sessions in older agents' formats (default 0.3)")
    args = ap.parse_args()
    ccusage = args.ccusage or subprocess.run(["bash", str(ROOT / "tests/e2e/agent-cli.sh"), "ccusage"],
                                             check=True, capture_output=True, text=True).stdout.strip()
    rng = random.Random(7)
    work = Path(tempfile.mkdtemp(prefix="telemhq-store-bench-"))
    home = work / "home"
    try:
        t = time.perf_counter()
        size, files = generate(home, args.gb, rng, args.old)
        print(f"history: {size / 1024 ** 3:.2f} GiB in {files} sessions, {args.old:.0%} in older formats "
              f"(generated in {time.perf_counter() - t:.0f} s)")
        node = shutil.which("node") or "/usr/bin/node"
        env = {"HOME": str(home), "PATH": f"{os.path.dirname(node)}:/usr/bin:/bin", "LANG": "C.UTF-8",
               "TZ": "UTC"}
        subprocess.run(["sh", "-c", f"cat $(find {home} -name '*.jsonl') > /dev/null"], check=True)
        state = home / ".claude/hooks/telemhq.d"

        def fresh():
            for f in state.glob("telemhq.db*"):
                f.unlink()

        imp_mem, cc_mem = [], []
        imp, imp_all = timed([args.bin, "import"], env, args.runs, before=fresh, peaks=imp_mem)
        cc, cc_all = timed([ccusage, "daily", "--json", "--offline"], env, args.runs, peaks=cc_mem)
        again, _ = timed([args.bin, "import"], env, max(args.runs, 5))
        print(f"telemhq import: {imp:.2f} s (runs {', '.join(f'{x:.2f}' for x in imp_all)})")
        print(f"ccusage daily --json --offline: {cc:.2f} s (runs {', '.join(f'{x:.2f}' for x in cc_all)})")
        print(f"ccusage ÷ telemhq import: {cc / imp:.2f}x")
        print(f"peak memory: telemhq import {max(imp_mem):.0f} MiB, ccusage {max(cc_mem):.0f} MiB")
        print(f"re-import, nothing new: {again * 1000:.0f} ms")
        db = state / "telemhq.db"
        turns = sqlite3.connect(db).execute("SELECT count(*) FROM events").fetchone()[0]
        print(f"turns imported: {turns}; store {db.stat().st_size / 1024 ** 2:.0f} MiB")

        big = work / "big"
        big_state = big / ".claude/hooks/telemhq.d"
        big_state.mkdir(parents=True)
        os.chmod(big / ".claude/hooks", 0o700)
        os.chmod(big_state, 0o700)
        t = time.perf_counter()
        million_turns(db, big_state / "telemhq.db", args.turns, rng)
        print(f"store of {args.turns} turns: {(big_state / 'telemhq.db').stat().st_size / 1024 ** 2:.0f} MiB "
              f"(made in {time.perf_counter() - t:.0f} s)")
        benv = dict(env, HOME=str(big))
        for by in ("daily", "monthly", "model", "project", "session"):
            r, _ = timed([args.bin, "report", by, "--json"], benv, 5)
            print(f"telemhq report {by} over {args.turns} turns: {r * 1000:.0f} ms")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
