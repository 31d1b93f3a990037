"""Issue 14, multiline: SPILLWAY_MULTILINE_PATTERN / _DATETIME_FORMAT join continuation lines into
one record, end to end through the binary — the console sink, the forward receiver, filesystem mode."""
import json
import os
import select
import subprocess
import time

from conftest import base_env, console_records, run, spillway_path, summary_line
from peerlib import Peer, free_port, read_events

JAVA = [
    "2024-05-01 10:00:00.123 INFO  starting",
    "2024-05-01 10:00:01.456 ERROR request failed",
    "java.lang.IllegalStateException: boom",
    "\tat com.example.Service.handle(Service.java:42)",
    "\tat com.example.Server.lambda$run$0(Server.java:17)",
    "Caused by: java.io.IOException: closed",
    "\t... 12 more",
    "2024-05-01 10:00:02.000 INFO  recovered",
]
JAVA_RECORDS = [JAVA[0], "\n".join(JAVA[1:7]), JAVA[7]]

PYTHON = [
    "[2024-05-01 10:00:00,001] ERROR handler crashed",
    "Traceback (most recent call last):",
    '  File "/app/main.py", line 10, in <module>',
    "    main()",
    "ValueError: bad input",
    "[2024-05-01 10:00:03,002] INFO next",
]
PYTHON_RECORDS = ["\n".join(PYTHON[:5]), PYTHON[5]]


def printing(lines, stream="stdout", then=""):
    code = f"import sys\nfor l in {lines!r}:\n    print(l, file=sys.{stream})\nsys.{stream}.flush()\n{then}"
    return ["--", "python3", "-c", code]


def test_a_java_stack_trace_is_one_record_and_counts_once(spillway):
    result = run(printing(JAVA), env=base_env(SPILLWAY_MULTILINE_PATTERN=r"^\d{4}-\d{2}-\d{2}"))
    assert result.returncode == 0, result.stderr
    assert [r["log"] for r in console_records(result.stdout)] == JAVA_RECORDS
    assert summary_line(result.stderr)["delivered"] == 3  # a joined record counts once


def test_a_python_traceback_on_stderr_is_one_record_by_datetime_format(spillway):
    env = base_env(SPILLWAY_MULTILINE_DATETIME_FORMAT="%Y-%m-%d %H:%M:%S")
    result = run(printing(PYTHON, "stderr"), env=env)
    records = console_records(result.stdout)
    assert [r["log"] for r in records] == PYTHON_RECORDS
    assert {r["source"] for r in records} == {"stderr"}


def test_stdout_and_stderr_group_separately(spillway):
    code = ("import os\n"
            "for i in range(3):\n"
            "    os.write(1, b'START out %d\\n' % i); os.write(2, b'START err %d\\n' % i)\n"
            "    os.write(1, b'  out cont\\n'); os.write(2, b'  err cont\\n')\n")
    result = run(["--", "python3", "-c", code], env=base_env(SPILLWAY_MULTILINE_PATTERN="^START"))
    records = console_records(result.stdout)
    for source, short in (("stdout", "out"), ("stderr", "err")):
        assert [r["log"] for r in records if r["source"] == source] == \
            [f"START {short} {i}\n  {short} cont" for i in range(3)]


def test_the_flush_interval_releases_a_lone_group_while_the_workload_lives(spillway):
    env = base_env(SPILLWAY_MULTILINE_PATTERN=r"^\S", SPILLWAY_MULTILINE_FLUSH_INTERVAL="200ms",
                   SPILLWAY_FLUSH_INTERVAL="50ms")
    proc = subprocess.Popen([spillway_path(), *printing(["boom", "  at a", "  at b"], then="import time; time.sleep(30)")],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        started = time.monotonic()
        ready, _, _ = select.select([proc.stdout], [], [], 10)
        assert ready, "the held group was not released while the workload kept running"
        line = proc.stdout.readline()
        assert json.loads(line)["log"] == "boom\n  at a\n  at b"
        assert time.monotonic() - started >= 0.2
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.communicate()


def test_the_forward_receiver_gets_each_trace_as_one_event(spillway, tmp_path):
    events_path = tmp_path / "events.jsonl"
    with Peer("forward_receiver.py", str(tmp_path), "--events", str(events_path)) as peer:
        env = base_env(SPILLWAY_SINK="forward", SPILLWAY_FORWARD_ADDRESS=f"tcp://127.0.0.1:{peer.port}",
                       SPILLWAY_FLUSH_INTERVAL="100ms", SPILLWAY_MULTILINE_PATTERN=r"^(\d{4}-|\[)")
        result = run(printing(JAVA + PYTHON), env=env)
    assert result.returncode == 0, result.stderr
    logs = [e["record"]["log"].decode() for e in read_events(events_path)]
    assert logs == JAVA_RECORDS + PYTHON_RECORDS


def test_filesystem_mode_stores_joined_records_for_a_later_drain(spillway, tmp_path):
    port = free_port()
    env = base_env(SPILLWAY_SINK="forward", SPILLWAY_FORWARD_ADDRESS=f"tcp://127.0.0.1:{port}",
                   SPILLWAY_MODE="filesystem", SPILLWAY_STORAGE_PATH=str(tmp_path / "storage"),
                   SPILLWAY_FLUSH_INTERVAL="100ms", SPILLWAY_SHUTDOWN_TIMEOUT="500ms",
                   SPILLWAY_MULTILINE_PATTERN=r"^\d{4}-\d{2}-\d{2}")
    result = run(printing(JAVA), env=env)  # no receiver: everything stays on disk
    fields = summary_line(result.stderr)
    assert fields["buffered"] == 3 and fields["delivered"] == 0, result.stderr
    events_path = tmp_path / "events.jsonl"
    with Peer("forward_receiver.py", str(tmp_path), "--events", str(events_path), listen=f"tcp:127.0.0.1:{port}"):
        drained = run(["--drain"], env=env, timeout=60)
    assert drained.returncode == 0, drained.stderr
    assert [e["record"]["log"].decode() for e in read_events(events_path)] == JAVA_RECORDS


def test_a_group_over_the_line_size_limit_becomes_partials(spillway):
    lines = ["START " + "a" * 20, "b" * 20, "c" * 20]
    env = base_env(SPILLWAY_MULTILINE_PATTERN="^START", SPILLWAY_MAX_LINE_SIZE="32")
    records = console_records(run(printing(lines), env=env).stdout)
    assert "".join(r["log"] for r in records) == "\n".join(lines)
    assert [len(r["log"]) for r in records] == [32, 32, 4]
    assert len({r["partial_id"] for r in records}) == 1
    assert [r["partial_last"] for r in records] == [False, False, True]


def test_both_start_rules_exit_125_naming_both(spillway):
    env = base_env(SPILLWAY_MULTILINE_PATTERN="^x", SPILLWAY_MULTILINE_DATETIME_FORMAT="%Y")
    result = run(["--", "true"], env=env)
    assert result.returncode == 125
    assert b"SPILLWAY_MULTILINE_DATETIME_FORMAT" in result.stderr and b"SPILLWAY_MULTILINE_PATTERN" in result.stderr


def test_an_invalid_pattern_exits_125_with_the_engines_reason(spillway):
    for args in (["--", "true"], ["--check-config"]):
        result = run(args, env=base_env(SPILLWAY_MULTILINE_PATTERN="^(unclosed"))
        assert result.returncode == 125, result.stderr
        assert b"SPILLWAY_MULTILINE_PATTERN" in result.stderr and b"unmatched (" in result.stderr.lower()


def test_help_lists_the_multiline_variables(spillway):
    out = run(["--help"]).stdout
    for name in (b"SPILLWAY_MULTILINE_PATTERN", b"SPILLWAY_MULTILINE_DATETIME_FORMAT", b"SPILLWAY_MULTILINE_FLUSH_INTERVAL"):
        assert name in out
