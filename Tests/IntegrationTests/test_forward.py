"""Issue 3: the forward sink and the delivery modes, against the independent msgpack receiver."""
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from conftest import base_env, run, summary_line
from peerlib import PEERS_DIR, Peer, read_errors, read_events
from writerlib import finish, read_int, start_writer


def forward_env(address, **extra):
    env = dict(SPILLWAY_SINK="forward", SPILLWAY_FORWARD_ADDRESS=address, SPILLWAY_FLUSH_INTERVAL="100ms",
               SPILLWAY_SHUTDOWN_TIMEOUT="10s")
    env.update(extra)
    return base_env(**env)


def receiver(tmp_path, *args, name="events.jsonl", listen="tcp:127.0.0.1:0"):
    events = tmp_path / name
    return Peer("forward_receiver.py", str(tmp_path), "--events", str(events), *args, listen=listen), events


def seqs(events):
    return [int(re.match(rb"seq=(\d+)", e["record"]["log"]).group(1))
            for e in events if e["record"]["log"].startswith(b"seq=")]


def markers(events):
    return [e["record"]["log"].decode() for e in events if e["record"]["log"].startswith(b"spillway: dropped")]


# --- 1. what arrives, byte-exact ---------------------------------------------------------

LINES_CODE = ("import os\n"
              "os.write(1, b'plain line\\n')\n"
              "os.write(2, b'to stderr\\n')\n"
              "os.write(1, b'nul\\x00 and \\xff\\xfe invalid utf-8 and \\xc3\\xa9\\r\\n')\n"
              "os.write(1, b'y' * 100 + b'\\n')\n"
              "os.write(1, b'unterminated')\n")


def check_records(events, name="python3"):
    by_log = {e["record"]["log"]: e for e in events}
    assert by_log[b"plain line"]["record"]["source"] == b"stdout"
    assert by_log[b"to stderr"]["record"]["source"] == b"stderr"
    assert b"nul\x00 and \xff\xfe invalid utf-8 and \xc3\xa9\r" in by_log
    assert b"unterminated" in by_log
    parts = [e for e in events if "partial_message" in e["record"]]
    assert [p["record"]["log"] for p in parts] == [b"y" * 40, b"y" * 40, b"y" * 20]
    assert [p["record"]["partial_ordinal"] for p in parts] == [b"1", b"2", b"3"]
    assert [p["record"]["partial_last"] for p in parts] == [b"false", b"false", b"true"]
    assert len({p["record"]["partial_id"] for p in parts}) == 1
    assert len({tuple(p["time"]) for p in parts}) == 1
    for e in events:
        assert e["tag"] == f"spillway.{name}"
        assert e["record"]["container_name"] == name.encode()
        assert set(e["record_types"].values()) == {"str"}
        assert e["time_type"] == "eventtime"
        assert e["chunk"] is not None
    assert len(events) == 7


@pytest.mark.parametrize("compress", ["none", "gzip"])
def test_records_arrive_byte_exact_over_tcp(spillway, tmp_path, compress):
    peer, events = receiver(tmp_path)
    with peer:
        result = run(["--", sys.executable, "-c", LINES_CODE],
                     env=forward_env(f"tcp://127.0.0.1:{peer.port}", SPILLWAY_FORWARD_COMPRESS=compress,
                                     SPILLWAY_MAX_LINE_SIZE="40"))
        assert result.returncode == 0, result.stderr
        got = read_events(events)
    check_records(got)
    assert {e["format"] for e in got} == {"compressed" if compress == "gzip" else "packed"}
    assert read_errors(events) == []
    assert summary_line(result.stderr)["delivered"] == 7


def test_records_arrive_over_a_unix_socket(spillway, tmp_path):
    sock = tmp_path / "fwd.sock"
    peer, events = receiver(tmp_path, listen=f"unix:{sock}")
    with peer:
        result = run(["--", sys.executable, "-c", LINES_CODE],
                     env=forward_env(f"unix://{sock}", SPILLWAY_MAX_LINE_SIZE="40"))
        assert result.returncode == 0, result.stderr
    check_records(read_events(events))


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("certs")
    subprocess.run(["bash", os.path.join(PEERS_DIR, "make_certs.sh"), str(d)], check=True, capture_output=True)
    return d


def test_records_arrive_over_tls_with_a_client_certificate(spillway, tmp_path, certs):
    peer, events = receiver(tmp_path, "--tls-cert", str(certs / "server.pem"), "--tls-key", str(certs / "server.key"),
                            "--tls-client-ca", str(certs / "ca.pem"))
    with peer:
        env = forward_env(f"tls://127.0.0.1:{peer.port}", SPILLWAY_MAX_LINE_SIZE="40",
                          SPILLWAY_FORWARD_TLS_CA=str(certs / "ca.pem"),
                          SPILLWAY_FORWARD_TLS_CERT=str(certs / "client.pem"),
                          SPILLWAY_FORWARD_TLS_KEY=str(certs / "client.key"))
        result = run(["--", sys.executable, "-c", LINES_CODE], env=env)
        assert result.returncode == 0, result.stderr
    check_records(read_events(events))


def test_tls_refuses_an_unknown_server_certificate(spillway, tmp_path, certs):
    peer, events = receiver(tmp_path, "--tls-cert", str(certs / "server.pem"), "--tls-key", str(certs / "server.key"))
    with peer:
        env = forward_env(f"tls://127.0.0.1:{peer.port}", SPILLWAY_SHUTDOWN_TIMEOUT="1s")
        result = run(["--", "echo", "secret"], env=env)  # system roots do not know the test CA
    assert result.returncode == 0
    assert read_events(events) == []
    fields = summary_line(result.stderr)
    assert (fields["delivered"], fields["dropped"]) == (0, 1)
    assert b"certificate" in result.stderr.lower() or b"tls" in result.stderr.lower()


def test_fields_tag_template_labels_env_and_integer_time(spillway, tmp_path):
    peer, events = receiver(tmp_path)
    with peer:
        env = forward_env(f"tcp://127.0.0.1:{peer.port}", SPILLWAY_NAME="web", SPILLWAY_CONTAINER_ID="abc123",
                          SPILLWAY_TAG="app.{name}.{id}", SPILLWAY_LABELS="team=core,tier=1",
                          SPILLWAY_ENV="DEPLOY_ENV", DEPLOY_ENV="staging", SPILLWAY_FORWARD_TIME_AS_INTEGER="true")
        before = int(time.time())
        run(["--", "echo", "hello"], env=env)
    (event,) = read_events(events)
    assert event["tag"] == "app.web.abc123"
    assert event["time_type"] == "int" and before <= event["time"][0] <= time.time()
    assert event["record"] == {"log": b"hello", "source": b"stdout", "container_name": b"web",
                               "container_id": b"abc123", "team": b"core", "tier": b"1", "DEPLOY_ENV": b"staging"}


def test_many_records_in_order_with_acks(spillway, tmp_path):
    peer, events = receiver(tmp_path)
    n = 50_000
    with peer:
        code = f"import os\nfor i in range({n}):\n    os.write(1, b'seq=%d\\n' % i)\n"
        result = run(["--", sys.executable, "-c", code], env=forward_env(f"tcp://127.0.0.1:{peer.port}"), timeout=120)
        assert result.returncode == 0
    assert seqs(read_events(events)) == list(range(n))
    assert summary_line(result.stderr)["delivered"] == n


# --- 2./3. blocking mode: the writer stalls, nothing is lost -----------------------------

def test_blocking_receiver_sigstopped_stalls_the_writer_and_loses_nothing(spillway, tmp_path):
    peer, events = receiver(tmp_path)
    n = 60_000
    with peer:
        env = forward_env(f"tcp://127.0.0.1:{peer.port}", SPILLWAY_MAX_BUFFER_SIZE="256k")
        proc, report, progress = start_writer(tmp_path, env, rate=10_000, count=n, size=200)
        try:
            time.sleep(1.0)
            peer.signal(signal.SIGSTOP)
            stopped_at = read_int(progress)
            time.sleep(3.0)
            stalled_progress = read_int(progress)
            time.sleep(2.0)
            during = read_int(progress)
            peer.signal(signal.SIGCONT)
            out, err = finish(proc, timeout=60)
        finally:
            peer.signal(signal.SIGCONT)
    written = json.loads(report.read_text())
    assert written["written"] == n
    assert during == stalled_progress, "the writer kept writing while the receiver was stopped"
    assert during - stopped_at < 30_000
    assert written["longest_write"] >= 1.5, written
    assert sorted(set(seqs(read_events(events)))) == list(range(n))
    assert summary_line(err)["dropped"] == 0


def test_blocking_receiver_killed_and_restarted_loses_nothing(spillway, tmp_path):
    peer, events = receiver(tmp_path)
    port = peer.port
    n = 30_000
    env = forward_env(f"tcp://127.0.0.1:{port}", SPILLWAY_MAX_BUFFER_SIZE="256k")
    proc, report, progress = start_writer(tmp_path, env, rate=10_000, count=n)
    second = None
    try:
        time.sleep(1.0)
        peer.signal(signal.SIGKILL)
        peer.stop()
        time.sleep(2.0)
        second = Peer("forward_receiver.py", str(tmp_path), "--events", str(tmp_path / "events2.jsonl"),
                      listen=f"tcp:127.0.0.1:{port}")
        out, err = finish(proc, timeout=90)
    finally:
        if second:
            second.stop()
    got = set(seqs(read_events(events))) | set(seqs(read_events(tmp_path / "events2.jsonl")))
    assert sorted(got) == list(range(n))
    assert summary_line(err)["dropped"] == 0


# --- 4. non-blocking: the writer never stalls; drops are counted and reported --------------

def test_non_blocking_never_stalls_and_counts_add_up(spillway, tmp_path):
    peer, events = receiver(tmp_path)
    port = peer.port
    n = 800_000
    env = forward_env(f"tcp://127.0.0.1:{port}", SPILLWAY_MODE="non-blocking", SPILLWAY_MAX_BUFFER_SIZE="64k",
                      SPILLWAY_SHUTDOWN_TIMEOUT="20s")
    proc, report, progress = start_writer(tmp_path, env, rate=100_000, count=n, seconds=30)
    second = None
    try:
        time.sleep(1.0)
        peer.stop()
        time.sleep(5.0)
        second = Peer("forward_receiver.py", str(tmp_path), "--events", str(tmp_path / "events2.jsonl"),
                      listen=f"tcp:127.0.0.1:{port}")
        out, err = finish(proc, timeout=90)
    finally:
        if second:
            second.stop()
    written = json.loads(report.read_text())
    got = read_events(events) + read_events(tmp_path / "events2.jsonl")
    delivered = set(seqs(got))
    fields = summary_line(err)
    reported = sum(int(re.search(r"dropped (\d+) records", m).group(1)) for m in markers(got))
    print(f"longest write {written['longest_write'] * 1000:.1f} ms; written {written['written']}; "
          f"delivered {len(delivered)}; dropped {fields['dropped']}; reported in-band {reported}")
    assert written["longest_write"] < 0.2, written
    assert fields["dropped"] > 0
    assert markers(got), "no in-band drop record"
    assert "non-blocking buffer full" in markers(got)[0]
    assert len(delivered) + fields["dropped"] == written["written"]
    assert fields["delivered"] == len(delivered)
    assert reported == fields["dropped"]


# --- 6. failover, handshake, acks ----------------------------------------------------------

def test_failover_to_the_second_address_and_back(spillway, tmp_path):
    first, first_events = receiver(tmp_path, name="first.jsonl")
    first_port = first.port
    first.stop()  # the preferred receiver is down at start
    second, second_events = receiver(tmp_path, name="second.jsonl")
    third = None
    try:
        env = forward_env(f"tcp://127.0.0.1:{first_port},tcp://127.0.0.1:{second.port}")
        proc, report, progress = start_writer(tmp_path, env, rate=200, count=2000, seconds=20)
        time.sleep(3.0)
        third = Peer("forward_receiver.py", str(tmp_path), "--events", str(first_events),
                     listen=f"tcp:127.0.0.1:{first_port}")
        out, err = finish(proc, timeout=60)
    finally:
        second.stop()
        if third:
            third.stop()
    on_second = seqs(read_events(second_events))
    on_first = seqs(read_events(first_events))
    assert on_second and on_first, (len(on_second), len(on_first))
    written = json.loads(report.read_text())["written"]
    assert min(on_second) == 0
    assert max(on_first) == written - 1
    assert sorted(set(on_first) | set(on_second)) == list(range(written))


def test_handshake_with_shared_key_and_user(spillway, tmp_path):
    peer, events = receiver(tmp_path, "--shared-key", "s3cret", "--user", "alice:pw1")
    with peer:
        env = forward_env(f"tcp://127.0.0.1:{peer.port}", SPILLWAY_FORWARD_SHARED_KEY="s3cret",
                          SPILLWAY_FORWARD_USERNAME="alice", SPILLWAY_FORWARD_PASSWORD="pw1")
        result = run(["--", "echo", "authenticated"], env=env)
    assert [e["record"]["log"] for e in read_events(events)] == [b"authenticated"]
    assert b"s3cret" not in result.stderr and b"pw1" not in result.stderr


def test_wrong_shared_key_is_a_clear_diagnostic_and_a_retry(spillway, tmp_path):
    peer, events = receiver(tmp_path, "--shared-key", "right")
    with peer:
        env = forward_env(f"tcp://127.0.0.1:{peer.port}", SPILLWAY_FORWARD_SHARED_KEY="wrong",
                          SPILLWAY_SHUTDOWN_TIMEOUT="2s")
        result = run(["--", "echo", "never"], env=env)
    assert result.returncode == 0
    assert read_events(events) == []
    err = result.stderr.decode()
    assert "handshake" in err.lower() and "wrong" not in err
    fields = summary_line(result.stderr)
    assert (fields["delivered"], fields["dropped"]) == (0, 1)


def test_receiver_that_never_acks_is_named_once(spillway, tmp_path):
    peer, events = receiver(tmp_path, "--no-ack")
    with peer:
        env = forward_env(f"tcp://127.0.0.1:{peer.port}", SPILLWAY_FORWARD_ACK_TIMEOUT="500ms",
                          SPILLWAY_SHUTDOWN_TIMEOUT="3s")
        result = run(["--", "echo", "hello"], env=env)
    err = result.stderr.decode()
    assert err.count("SPILLWAY_FORWARD_REQUIRE_ACK") == 1, err
    assert {e["record"]["log"] for e in read_events(events)} == {b"hello"}  # resent: at least once


def test_without_acks_a_written_batch_counts_as_delivered(spillway, tmp_path):
    peer, events = receiver(tmp_path, "--no-ack")
    with peer:
        env = forward_env(f"tcp://127.0.0.1:{peer.port}", SPILLWAY_FORWARD_REQUIRE_ACK="false")
        result = run(["--", "echo", "hello"], env=env)
    (event,) = read_events(events)
    assert event["chunk"] is None
    assert summary_line(result.stderr)["delivered"] == 1


def test_ack_as_bin_is_accepted(spillway, tmp_path):
    peer, events = receiver(tmp_path, "--ack-as-bin")
    with peer:
        result = run(["--", "echo", "hello"], env=forward_env(f"tcp://127.0.0.1:{peer.port}",
                                                               SPILLWAY_SHUTDOWN_TIMEOUT="3s"))
    assert len(read_events(events)) == 1
    assert summary_line(result.stderr)["delivered"] == 1


def test_unreachable_receiver_never_blocks_start_or_exit(spillway, tmp_path):
    start = time.monotonic()
    result = run(["--", "sh", "-c", "echo a; exit 4"],
                 env=forward_env("tcp://127.0.0.1:9", SPILLWAY_SHUTDOWN_TIMEOUT="1s"))
    assert result.returncode == 4
    assert time.monotonic() - start < 5
    fields = summary_line(result.stderr)
    assert (fields["delivered"], fields["dropped"]) == (0, 1)


def test_a_workload_exiting_right_after_a_large_write_never_crashes_spillway(spillway, tmp_path):
    # Both pipes hang up while a 600 kB line is being read: with Dispatch read sources this
    # crashed in libdispatch's event loop in nearly every run (swift-corelibs-libdispatch#949).
    code = "import os; os.write(1, b'\\xff' * 600000 + b'\\nnext\\n')"
    env = forward_env("tcp://127.0.0.1:9", SPILLWAY_SHUTDOWN_TIMEOUT="300ms", SPILLWAY_MAX_LINE_SIZE="1m",
                      SPILLWAY_MAX_BUFFER_SIZE="2m")
    for _ in range(10):
        result = run(["--", sys.executable, "-c", code], env=env)
        assert result.returncode == 0, result.stderr[-2000:]
        assert summary_line(result.stderr)["dropped"] == 2


def test_an_unprivileged_user_delivers_to_the_forward_receiver(spillway, tmp_path):
    from conftest import as_nobody
    peer, events = receiver(tmp_path)
    with peer:
        result = subprocess.run(as_nobody(["--", "sh", "-c", "echo seq=0; echo seq=1"]),
                                env=forward_env(f"tcp://127.0.0.1:{peer.port}"), capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr.decode()
    assert summary_line(result.stderr)["delivered"] == 2
    assert seqs(read_events(events)) == [0, 1]
