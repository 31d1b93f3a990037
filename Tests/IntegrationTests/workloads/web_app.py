"""A multi-threaded web application that logs a fair amount per request, as in the field.

`ThreadingHTTPServer` (a thread per connection) answers `GET /` after a short piece of "work"
(`--work-ms`) and logs `--lines` lines per request to stdout, each written with its own
write(2) through one shared stream, as a logging library does. When the log pipe is full the
writing thread waits in write(2) while it holds the stream, so the other threads wait too: the
application stops answering. That is the backpressure the demo measures.

`--stats FILE` is rewritten atomically every 200 ms: requests answered, lines logged, and
whether a log write has been waiting longer than 250 ms (`blocked`). `--port-file` receives
the port once the server listens.
"""
import argparse
import http.server
import json
import os
import signal
import sys
import threading
import time

parser = argparse.ArgumentParser()
parser.add_argument("--port-file", required=True)
parser.add_argument("--stats", required=True)
parser.add_argument("--lines", type=int, default=20)
parser.add_argument("--work-ms", type=float, default=10)
args = parser.parse_args()

log_lock, count_lock = threading.Lock(), threading.Lock()
state = {"answered": 0, "logged": 0, "write_started": None}
out = sys.stdout.buffer


def log(message):
    """One line, ending in `line=N`: N counts the lines written, so a reader can find duplicates."""
    with log_lock:
        state["write_started"] = time.monotonic()
        out.write(f"{time.time():.6f} {message} line={state['logged']}\n".encode())
        out.flush()
        state["write_started"] = None
        state["logged"] += 1


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        request = time.monotonic_ns()
        time.sleep(args.work_ms / 1000)
        for step in range(args.lines):
            log(f"INFO app request={request} thread={threading.get_ident()} path={self.path} "
                f"step={step + 1}/{args.lines}")
        body = b"ok\n"
        try:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError as error:  # the client gave up waiting (its timeout)
            log(f"WARN app client went away: {error!r}")
            return
        with count_lock:
            state["answered"] += 1

    def log_message(self, *a):  # the access log would be one more line; the app logs its own
        pass


def write_stats_once():
    started = state["write_started"]
    blocked = started is not None and time.monotonic() - started > 0.25
    text = json.dumps({"answered": state["answered"], "logged": state["logged"], "blocked": blocked})
    with open(f"{args.stats}.tmp", "w") as f:
        f.write(text)
    os.replace(f"{args.stats}.tmp", args.stats)


def write_stats():
    while True:
        write_stats_once()
        time.sleep(0.2)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):  # one counted line, not a traceback
        log(f"ERROR app {sys.exc_info()[1]!r}")


server = Server(("127.0.0.1", 0), Handler)
signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
threading.Thread(target=write_stats, daemon=True).start()
with open(args.port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.replace(args.port_file + ".tmp", args.port_file)
server.serve_forever()
with log_lock:  # a handler still logging finishes its line first
    write_stats_once()
