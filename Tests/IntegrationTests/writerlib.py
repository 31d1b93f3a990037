"""The steady writer workload under spillway, and waiting on it: shared by the integration tests."""
import os
import subprocess
import sys
import time

from conftest import spillway_path

WRITER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "workloads", "steady_writer.py")

# Every spillway start_writer started; conftest's autouse fixture ends what is left after each
# test (by its PID), also when an assertion failed before `finish`.
started = []


def end_leftovers():
    while started:
        proc = started.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def start_writer(tmp_path, env, rate, count, seconds=60, size=100):
    """`spillway -- steady_writer.py …`; returns (process, report path, progress path)."""
    report = tmp_path / "writer.json"
    progress = tmp_path / "progress"
    proc = subprocess.Popen([spillway_path(), "--", sys.executable, WRITER, "--rate", str(rate), "--count", str(count),
                             "--seconds", str(seconds), "--size", str(size), "--report", str(report),
                             "--progress", str(progress)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    started.append(proc)
    return proc, report, progress


def finish(proc, timeout=90):
    """Waits for spillway to exit (killing it by its PID after `timeout`); returns (stdout, stderr)."""
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return out, err


def read_int(path):
    """The writer's progress file: lines written so far."""
    try:
        return int(path.read_text() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def wait_for(predicate, timeout):
    """Polls `predicate` until it holds (True) or `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False
