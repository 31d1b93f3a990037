"""A workload that writes numbered lines to stdout at a fixed rate and reports how long its
longest write(2) took. Bounded: stops after --count lines or --seconds, whichever comes first.

Each line is `seq=N` padded to --size bytes (newline included). The report (JSON) goes to
--report, never to stdout, so it does not mix with the records under test.
"""
import argparse
import json
import os
import time

parser = argparse.ArgumentParser()
parser.add_argument("--rate", type=float, required=True, help="lines per second")
parser.add_argument("--count", type=int, required=True)
parser.add_argument("--seconds", type=float, default=60.0)
parser.add_argument("--size", type=int, default=100)
parser.add_argument("--report", required=True)
parser.add_argument("--progress", help="file updated with the count written, about every 100 ms")
args = parser.parse_args()

burst = max(1, int(args.rate / 1000))  # lines per ~1 ms tick
interval = burst / args.rate
start = time.monotonic()
deadline = start + args.seconds
longest = 0.0
written = 0
next_tick = start
last_progress = start
while written < args.count and time.monotonic() < deadline:
    for _ in range(min(burst, args.count - written)):
        line = b"seq=%d " % written
        line += b"x" * max(0, args.size - len(line) - 1) + b"\n"
        t0 = time.monotonic()
        os.write(1, line)
        longest = max(longest, time.monotonic() - t0)
        written += 1
    next_tick += interval
    now = time.monotonic()
    if args.progress and now - last_progress > 0.1:
        # Atomically: a reader must never see the file truncated and empty.
        with open(args.progress + ".tmp", "w") as f:
            f.write(str(written))
        os.replace(args.progress + ".tmp", args.progress)
        last_progress = now
    if next_tick > now:
        time.sleep(next_tick - now)

with open(args.report + ".tmp", "w") as f:
    json.dump({"written": written, "longest_write": longest, "elapsed": time.monotonic() - start}, f)
os.replace(args.report + ".tmp", args.report)
