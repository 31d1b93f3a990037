"""Issue 12 (shutdown edges): no avoidable loss when a background process keeps the pipe open
after the main child exits, and bounded memory when one floods it past the deadline."""
import os
import re
import socket
import subprocess

import pytest

from conftest import base_env, console_records, run, summary_line
from peerlib import read_events
from test_forward import forward_env, receiver

BACKGROUND_HOLDS_PIPE = "echo main; (exec sleep 3) & echo bye"


def test_forward_lines_are_delivered_when_a_background_process_holds_the_pipe(spillway, tmp_path):
    peer, events = receiver(tmp_path)
    with peer:
        result = run(["--", "sh", "-c", BACKGROUND_HOLDS_PIPE],
                     env=forward_env(f"tcp://127.0.0.1:{peer.port}", SPILLWAY_SHUTDOWN_TIMEOUT="1s"))
    assert result.returncode == 0, result.stderr.decode()
    assert summary_line(result.stderr) == dict(code=0, delivered=2, dropped=0, buffered=0, bytes=7)
    assert [e["record"]["log"] for e in read_events(events)] == [b"main", b"bye"]


@pytest.mark.parametrize("sink", ["console", "forward"])
def test_a_long_flush_interval_does_not_outlast_the_shutdown_timeout(spillway, tmp_path, sink):
    """Once the main child has exited every batch is due at once: nothing waits 5 s for the timer."""
    peer, events = receiver(tmp_path)
    with peer:
        env = (forward_env(f"tcp://127.0.0.1:{peer.port}") if sink == "forward" else base_env())
        env.update(SPILLWAY_FLUSH_INTERVAL="5s", SPILLWAY_SHUTDOWN_TIMEOUT="2s")
        result = run(["--", "sh", "-c", BACKGROUND_HOLDS_PIPE], env=env)
    assert summary_line(result.stderr)["delivered"] == 2, result.stderr.decode()
    assert summary_line(result.stderr)["dropped"] == 0
    got = ([r["log"] for r in console_records(result.stdout)] if sink == "console"
           else [e["record"]["log"].decode() for e in read_events(events)])
    assert got == ["main", "bye"]


@pytest.mark.skipif(not os.path.exists("/usr/bin/time"), reason="GNU time is not installed (apt-get install time)")
def test_memory_stays_bounded_when_a_grandchild_floods_past_the_deadline(spillway, tmp_path):
    """The receiver is down and a daemonised `yes` floods the pipe after the main child exited:
    at the deadline spillway reads a bounded amount, counts it without holding it, and exits."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    env = forward_env(f"tcp://127.0.0.1:{closed_port}", SPILLWAY_SHUTDOWN_TIMEOUT="2s")
    # GNU time reports spillway's peak RSS; spillway's own getrusage would include the peak of
    # pytest, whose memory a forked child carries across exec.
    result = subprocess.run(["/usr/bin/time", "-f", "max_rss=%MKiB", spillway, "--", "sh", "-c",
                             "(exec yes spillway-flood) & echo started"], env=env, capture_output=True, timeout=60)
    stderr = result.stderr.decode()
    summary = summary_line(result.stderr)
    assert summary["delivered"] == 0 and summary["buffered"] == 0
    assert summary["dropped"] > 10_000  # the flood was read and counted, not ignored
    assert "undelivered at the shutdown timeout" in stderr
    max_rss_kib = int(re.search(r"max_rss=(\d+)KiB", stderr).group(1))
    # A debug build: the buffer (1m) plus a constant; before the fix it held every record read.
    assert max_rss_kib < 64 * 1024, stderr[-2000:]


@pytest.mark.parametrize("attempt", range(5))
def test_the_summary_never_contradicts_what_was_printed(spillway, attempt):
    """With no time to drain, a line the console sink printed is delivered, never dropped."""
    result = run(["--", "sh", "-c", "echo hi; echo there"], env=base_env(SPILLWAY_SHUTDOWN_TIMEOUT="0s"))
    printed = [r["log"] for r in console_records(result.stdout)]
    summary = summary_line(result.stderr)
    assert summary["delivered"] == len(printed), (printed, result.stderr.decode())
    assert summary["delivered"] + summary["dropped"] == 2



def test_an_ack_after_the_deadline_but_before_shutdown_counts_as_delivered(spillway, tmp_path):
    """The receiver got both lines and acknowledges them 0.3 s later, after the 0.1 s deadline:
    the forward sink waits briefly for outstanding acks when it shuts down, so the summary
    agrees with the receiver."""
    peer, events = receiver(tmp_path, "--ack-delay", "0.3")
    with peer:
        result = run(["--", "sh", "-c", "echo one; echo two"],
                     env=forward_env(f"tcp://127.0.0.1:{peer.port}", SPILLWAY_SHUTDOWN_TIMEOUT="100ms"))
    assert [e["record"]["log"] for e in read_events(events)] == [b"one", b"two"]
    summary = summary_line(result.stderr)
    assert (summary["delivered"], summary["dropped"]) == (2, 0), result.stderr.decode()
