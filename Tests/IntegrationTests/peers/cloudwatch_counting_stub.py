"""A CloudWatch Logs stand-in for the benchmark: answers every request with `{}` and counts the
events of PutLogEvents (occurrences of "timestamp" in the body: no JSON parsing, so the stub
is not what limits the client). HTTP/1.1 keep-alive on 127.0.0.1. On SIGTERM the totals go to
--count-file as {"requests", "events", "bytes"}.

Usage: cloudwatch_counting_stub.py --listen tcp:127.0.0.1:0 --port-file F --count-file C
"""
import argparse
import json
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peerlib import write_atomically  # noqa: E402

totals = {"requests": 0, "events": 0, "bytes": 0}
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without TCP_NODELAY the body waits for the
    # client's delayed ACK (40 ms a request), and the stub would measure that, not the client.
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("X-Amz-Target", "").endswith("PutLogEvents"):
            with lock:
                totals["requests"] += 1
                totals["events"] += body.count(b'"timestamp"')
                totals["bytes"] += len(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", required=True)
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--count-file", required=True)
    args = parser.parse_args()
    host, _, port = args.listen.partition(":")[2].rpartition(":")
    server = ThreadingHTTPServer((host, int(port)), Handler)
    server.daemon_threads = True

    def stop(*_):
        with lock:
            write_atomically(args.count_file, json.dumps(totals))
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    write_atomically(args.port_file, str(server.server_address[1]))
    server.serve_forever()


if __name__ == "__main__":
    main()
