"""A loopback ping endpoint for the benchmarks: answers 200, or hangs when told to."""
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODE = {"mode": "ok"}
RECEIVED = {"count": 0}


class Receiver(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0) or 0))
        if MODE["mode"] == "hang":
            time.sleep(120)
            return
        RECEIVED["count"] += 1
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"OK")


def start():
    """Starts the endpoint in the background; returns its ping URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    server.daemon_threads = True
    server.handle_error = lambda *a: None  # clients that hang up are part of the test
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/ping/bench-token-123456"
