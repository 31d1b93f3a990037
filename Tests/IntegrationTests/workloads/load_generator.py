"""Load at a fixed concurrency for a fixed time, as `ab -c N -t T` gives it, but a request that
is not answered within `--timeout` counts as failed and the run goes on (ab gives up the whole
run at its first timeout and then reports nothing).

Each of `--concurrency` threads sends `GET /` on a new connection, waits for the answer, and
sends the next. `--progress FILE` is rewritten atomically every 200 ms with the answered and
failed counts; `--out FILE` receives every request at the end: [start, seconds, ok], start in
seconds since the run began.
"""
import argparse
import http.client
import json
import os
import threading
import time

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--concurrency", type=int, default=10)
parser.add_argument("--seconds", type=float, required=True)
parser.add_argument("--timeout", type=float, default=5.0)
parser.add_argument("--progress", required=True)
parser.add_argument("--out", required=True)
parser.add_argument("--epoch", type=float, help="time.monotonic() that starts are counted from (default: now)")
args = parser.parse_args()

began = time.monotonic() if args.epoch is None else args.epoch
end = time.monotonic() + args.seconds
results, lock = [], threading.Lock()


def worker():
    while (start := time.monotonic()) < end:
        ok = False
        conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=args.timeout)
        try:
            conn.request("GET", "/")
            ok = conn.getresponse().read() == b"ok\n"
        except OSError:
            pass
        finally:
            conn.close()
        took = time.monotonic() - start
        if not ok and took < args.timeout:
            time.sleep(0.05)  # refused at once: do not spin
        with lock:
            results.append([round(start - began, 4), round(took, 4), ok])


def write_json(path, value):
    with open(path + ".tmp", "w") as f:
        json.dump(value, f)
    os.replace(path + ".tmp", path)


threads = [threading.Thread(target=worker, daemon=True) for _ in range(args.concurrency)]
for t in threads:
    t.start()
while any(t.is_alive() for t in threads):
    with lock:
        answered = sum(1 for r in results if r[2])
        failed = len(results) - answered
    write_json(args.progress, {"answered": answered, "failed": failed})
    time.sleep(0.2)
write_json(args.progress, {"answered": sum(1 for r in results if r[2]),
                           "failed": sum(1 for r in results if not r[2])})
write_json(args.out, results)
