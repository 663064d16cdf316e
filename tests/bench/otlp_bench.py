#!/usr/bin/env python3
"""What the OpenTelemetry export adds to the sender: the same queued events delivered by
`telemhq flush` with the ping alone and with the ping and an OTLP export (loopback
endpoints for both), in one run; and emit with and without a collector configured.

Usage (after `cargo build --release`):
  python3 tests/bench/otlp_bench.py [--bin target/release/telemhq] [--events 300] [--rounds 5]
"""
import argparse
import fcntl
import statistics
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from emit_bench import FIXTURES, ROOT, run_once


class Ok(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0) or 0))
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()


def serve():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def home(binary, ping, otlp):
    h = Path(tempfile.mkdtemp(prefix="telemhq-otlp-bench-")) / "home"
    (h / ".claude").mkdir(parents=True)
    env = {"HOME": str(h), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    args = [binary, "install", "--global", "--ping-url", ping + "/ping/bench-token-123456"]
    if otlp:
        args += ["--otlp-endpoint", otlp]
    subprocess.run(args, env=env, check=True, stderr=subprocess.DEVNULL)
    return h, env


def queue(binary, h, env, n):
    """n events queued while this script holds the sender lock (nothing drains them)."""
    lock = open(h / ".claude/hooks/telemhq.d/sender.lock", "a")
    fcntl.flock(lock, fcntl.LOCK_EX)
    event = (FIXTURES / "PostToolUse-Bash.json").read_bytes()
    for _ in range(n):
        subprocess.run([binary, "emit"], input=event, env=env, check=True)
    lock.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=str(ROOT / "target/release/telemhq"))
    ap.add_argument("--events", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    ping, collector = serve(), serve()
    per = {"ping only": [], "ping and OTLP": []}
    for _ in range(args.rounds):
        for label, otlp in (("ping only", None), ("ping and OTLP", collector)):
            h, env = home(args.bin, ping, otlp)
            queue(args.bin, h, env, args.events)
            t = time.perf_counter()
            subprocess.run([args.bin, "flush", "--wait", "120"], env=env, check=True,
                           stdout=subprocess.DEVNULL)
            per[label].append((time.perf_counter() - t) * 1000 / args.events)
    for label, v in per.items():
        print(f"sender, {label}: {statistics.median(v):.3f} ms per event")
    extra = statistics.median(per["ping and OTLP"]) - statistics.median(per["ping only"])
    print(f"the export adds {extra:.3f} ms per event (batches of up to 200)")
    event = (FIXTURES / "Stop.json").read_bytes()
    times = {"without": [], "with": []}
    homes = {"without": home(args.bin, ping, None)[1], "with": home(args.bin, ping, collector)[1]}
    for _ in range(200):
        for k in times:
            times[k].append(run_once([args.bin, "emit"], event, homes[k])[0])
    print(f"emit without a collector {statistics.median(times['without']):.2f} ms, "
          f"with {statistics.median(times['with']):.2f} ms")


if __name__ == "__main__":
    main()
