"""Issue 5: the CloudWatch sink against moto_server (an independent CloudWatch Logs
implementation), read back with boto3: the API flow, group/stream creation, restarts and
outages under the delivery modes."""
import json
import os
import re
import signal
import time

import pytest

from conftest import run, summary_line
from cloudwatch_testlib import GROUP, STREAM, Moto, cloudwatch_env
from writerlib import finish, read_int, start_writer, wait_for

@pytest.fixture
def moto(tmp_path):
    with Moto(tmp_path) as m:
        yield m


def moto_env(moto, **extra):
    return cloudwatch_env(moto.url, key="testing", secret="testing", **extra)


def seqs(messages):
    return [int(m.group(1)) for m in (re.match(r"seq=(\d+)", x) for x in messages) if m]


def test_every_line_arrives_in_order_with_group_stream_and_retention(moto):
    code = "import sys\nsys.stdout.write(''.join(f'seq={i} line\\n' for i in range(3000)))"
    result = run(["--", "python3", "-c", code], env=moto_env(moto, SPILLWAY_CLOUDWATCH_RETENTION_DAYS="7"), timeout=120)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert moto.messages() == [f"seq={i} line" for i in range(3000)]
    logs = moto.client()
    groups = logs.describe_log_groups(logGroupNamePrefix=GROUP)["logGroups"]
    assert [(g["logGroupName"], g.get("retentionInDays")) for g in groups] == [(GROUP, 7)]
    streams = logs.describe_log_streams(logGroupName=GROUP)["logStreams"]
    assert [s["logStreamName"] for s in streams] == [STREAM]
    assert summary_line(result.stderr)["delivered"] == 3000


def test_stream_is_created_in_an_existing_group(moto):
    moto.client().create_log_group(logGroupName=GROUP)
    env = moto_env(moto, SPILLWAY_CLOUDWATCH_CREATE_GROUP="false", SPILLWAY_CLOUDWATCH_STREAM="{name}/x")
    result = run(["--", "python3", "-c", "print('hello'); print('world')"], env=env, timeout=60)
    assert result.returncode == 0
    assert moto.messages(stream="python3/x") == ["hello", "world"]


def test_missing_group_without_create_group_is_retried_and_reported(moto):
    env = moto_env(moto, SPILLWAY_CLOUDWATCH_CREATE_GROUP="false", SPILLWAY_SHUTDOWN_TIMEOUT="1500ms")
    result = run(["--", "sh", "-c", "echo lost; exit 3"], env=env, timeout=60)
    assert result.returncode == 3  # the workload's status, whatever the sink did
    stderr = result.stderr.decode()
    assert "SPILLWAY_CLOUDWATCH_CREATE_GROUP=true" in stderr
    # Said once, loudly, however many retries follow.
    said = [l for l in stderr.splitlines() if l.startswith("spillway: error: cloudwatch: log group ")]
    assert said == ["spillway: error: cloudwatch: log group /spillway/test does not exist and "
                    "SPILLWAY_CLOUDWATCH_CREATE_GROUP is false: create the group or set "
                    "SPILLWAY_CLOUDWATCH_CREATE_GROUP=true; retrying meanwhile"]
    summary = summary_line(stderr.encode())
    assert summary["delivered"] == 0 and summary["dropped"] == 1
    assert moto.client().describe_log_groups()["logGroups"] == []


def test_unreachable_cloudwatch_never_stops_the_start(tmp_path):
    env = cloudwatch_env("http://127.0.0.1:9", SPILLWAY_MODE="non-blocking", SPILLWAY_SHUTDOWN_TIMEOUT="500ms")
    result = run(["--", "sh", "-c", "echo started; exit 7"], env=env, timeout=30)
    assert result.returncode == 7
    assert b"started" not in result.stdout  # it went to the sink, not to our stdout
    summary = summary_line(result.stderr)
    assert summary["dropped"] == 1 and summary["delivered"] == 0
    assert "connection refused" in result.stderr.decode()


@pytest.mark.parametrize("env, variable", [
    (dict(SPILLWAY_CLOUDWATCH_GROUP=""), "SPILLWAY_CLOUDWATCH_GROUP"),
    (dict(AWS_REGION=""), "SPILLWAY_CLOUDWATCH_REGION"),
    (dict(AWS_CONTAINER_CREDENTIALS_FULL_URI="http://10.1.2.3/creds", AWS_ACCESS_KEY_ID="", AWS_SECRET_ACCESS_KEY=""),
     "AWS_CONTAINER_CREDENTIALS_FULL_URI"),
    (dict(AWS_ACCESS_KEY_ID="", AWS_SECRET_ACCESS_KEY=""), "AWS_ACCESS_KEY_ID"),
    (dict(AWS_SECRET_ACCESS_KEY=""), "AWS_SECRET_ACCESS_KEY"),
])
def test_setup_errors_are_125_naming_the_variable(env, variable):
    full = cloudwatch_env("http://127.0.0.1:9")
    for k, v in env.items():
        if v:
            full[k] = v
        else:
            full.pop(k, None)
    started = time.monotonic()
    result = run(["--", "true"], env=full, timeout=30)
    assert result.returncode == 125, result.stderr
    assert variable in result.stderr.decode()
    assert time.monotonic() - started < 5


def test_moto_restart_mid_run_recreates_group_and_stream_and_loses_nothing(tmp_path, moto):
    count = 3000
    proc, report, progress = start_writer(tmp_path, moto_env(moto), rate=1000, count=count, size=80)
    assert wait_for(lambda: len(moto.messages()) >= 500, 30), "the first events never reached moto"
    # Hold spillway still while moto's contents are read and moto is restarted, so that what
    # the first moto got is known exactly (a request it answered after the read would be
    # lost with it; one in flight is sent again to the new moto).
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        before = moto.messages()
        moto.restart()
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    out, err = finish(proc)
    assert proc.returncode == 0, err.decode(errors="replace")
    after = moto.messages()
    assert after, "nothing arrived after the restart"
    first, second = seqs(before), seqs(after)
    assert first == sorted(first) and second == sorted(second)
    assert set(first) | set(second) == set(range(count)), "lines were lost across the restart"
    assert err.decode().count("created log group") >= 2, "the group was not recreated"
    summary = summary_line(err)
    assert summary["dropped"] == 0


@pytest.mark.parametrize("mode", ["blocking", "non-blocking"])
def test_moto_stopped_under_a_steady_writer(tmp_path, moto, mode):
    # 1.6 MB/s: a 3 s outage is more than the 1 MiB pipe and the 64 KiB buffer hold.
    count = 16000
    env = moto_env(moto, SPILLWAY_MODE=mode, SPILLWAY_MAX_BUFFER_SIZE="64k", SPILLWAY_MAX_LINE_SIZE="16k")
    proc, report, progress = start_writer(tmp_path, env, rate=4000, count=count, seconds=30, size=400)
    assert wait_for(lambda: len(moto.messages()) > 0, 30), "the first events never reached moto"
    moto.signal(signal.SIGSTOP)
    try:
        time.sleep(3)
        written_during = read_int(progress)
    finally:
        moto.signal(signal.SIGCONT)
    out, err = finish(proc)
    assert proc.returncode == 0, err.decode(errors="replace")
    writer = json.loads(report.read_text())
    summary = summary_line(err)
    messages = moto.messages()
    got = seqs(messages)
    assert got == sorted(got)
    if mode == "blocking":
        assert writer["written"] == count and summary["dropped"] == 0
        assert set(got) == set(range(count))
        assert writer["longest_write"] > 1.0, "the workload should have stalled while moto was stopped"
    else:
        assert writer["longest_write"] < 1.0, "non-blocking must never stall the workload"
        assert written_during > 0
        dropped = summary["dropped"]
        assert dropped > 0 and len(set(got)) + dropped == writer["written"]
        reported = sum(int(re.match(r"spillway: dropped (\d+) records", m).group(1))
                       for m in messages if m.startswith("spillway: dropped"))
        assert reported == dropped


def test_an_unprivileged_user_delivers_to_cloudwatch(moto):
    """Everything else here runs as root; a socket option only root may set once made every
    connect of a non-root spillway fail with EACCES."""
    import subprocess
    from conftest import as_nobody
    result = subprocess.run(as_nobody(["--", "sh", "-c", "echo seq=0; echo seq=1"]), env=moto_env(moto),
                            capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr.decode()
    assert summary_line(result.stderr)["delivered"] == 2, result.stderr.decode()
    assert moto.messages() == ["seq=0", "seq=1"]


def stalled(progress):
    """Whether the writer wrote no line for 0.3 s."""
    before = read_int(progress)
    time.sleep(0.3)
    return read_int(progress) == before


def latest_seq(logs):
    """The seq of the stream's newest event (-1 when there is none, or no stream)."""
    try:
        events = logs.get_log_events(logGroupName=GROUP, logStreamName=STREAM, startFromHead=False, limit=1)["events"]
    except logs.exceptions.ResourceNotFoundException:
        return -1
    found = seqs([e["message"] for e in events])
    return found[-1] if found else -1


@pytest.mark.parametrize("outage,seconds", [("kill", 1), ("kill", 10), ("kill", 40), ("stop", 3), ("stop", 10)])
def test_writes_and_delivery_resume_within_a_second_of_moto_coming_back(tmp_path, moto, outage, seconds):
    # Killed: connects are refused and the backoff grows past 1 s (40 s is beyond its 30 s cap);
    # the probe (DescribeLogStreams, once a second) ends it as soon as moto answers again, and
    # the restarted moto, which lost the group and the stream, gets them created at once.
    # Stopped (SIGSTOP): the request in flight waits and is answered on SIGCONT.
    env = moto_env(moto, SPILLWAY_MAX_BUFFER_SIZE="64k", SPILLWAY_MAX_LINE_SIZE="16k")
    proc, report, progress = start_writer(tmp_path, env, rate=10_000, count=10_000_000, seconds=seconds + 12, size=100)
    logs = moto.client()  # one client: making one per poll costs more than the figure measured
    try:
        assert wait_for(lambda: latest_seq(logs) >= 0, 30), "the first events never reached moto"
        if outage == "kill":
            moto.kill()
        else:
            moto.signal(signal.SIGSTOP)
        cut = time.monotonic()
        # The 64k buffer and the 1 MiB pipe take about a second of the writer's lines to fill:
        # the outage lasts `seconds`, or until the writer is blocked if that takes longer.
        assert wait_for(lambda: stalled(progress), 10), "the writer was not blocked by the outage"
        time.sleep(max(0.0, seconds - (time.monotonic() - cut)))
        blocked_at = read_int(progress)
        assert stalled(progress), "the writer was not blocked by the outage"
        if outage == "kill":
            moto.start()  # returns once moto accepts connections
        else:
            moto.signal(signal.SIGCONT)
        back = time.monotonic()
        before = -1 if outage == "kill" else latest_seq(logs)  # a restarted moto starts empty
        writes = delivery = None
        while time.monotonic() - back < 15 and (writes is None or delivery is None):
            if writes is None and read_int(progress) > blocked_at:
                writes = time.monotonic() - back
            if delivery is None and latest_seq(logs) > before:
                delivery = time.monotonic() - back
            time.sleep(0.02)
    finally:
        out, err = finish(proc, timeout=90)
    print(f"moto back after a {seconds} s {outage}: writes resumed after {writes}s, delivery after {delivery}s")
    assert writes is not None and delivery is not None
    # Within 1 s of the return, with slack for a debug build on a shared machine.
    assert writes < 2.0 and delivery < 2.0, (writes, delivery)
    assert summary_line(err)["dropped"] == 0
