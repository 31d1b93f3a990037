"""Issue 17: round-robin and weighted balancing over several forward receivers, with health."""
import json
import signal
import time

import pytest

from conftest import summary_line
from peerlib import Peer, read_events
from test_forward import forward_env, receiver, seqs
from writerlib import finish, read_int, start_writer, wait_for


def receivers(tmp_path, count):
    """`count` msgpack receivers on 127.0.0.1: [(peer, events path)]."""
    out = []
    try:
        for i in range(count):
            out.append(receiver(tmp_path, name=f"r{i}.jsonl"))
    except BaseException:
        for peer, _ in out:
            peer.stop()
        raise
    return out


def restart(tmp_path, port, name):
    """A receiver again on `port` (the one a killed receiver had), writing to a new file."""
    events = tmp_path / name
    return Peer("forward_receiver.py", str(tmp_path), "--events", str(events), listen=f"tcp:127.0.0.1:{port}"), events


def address(peers, *options):
    return ",".join(f"tcp://127.0.0.1:{peer.port}{option}" for (peer, _), option in zip(peers, options))


def stop_all(peers):
    for peer in peers:
        if peer:
            peer.stop()


def event_seconds(events):
    return [e["time"][0] + e["time"][1] / 1e9 for e in events]


def test_weighted_60_30_10_shares_and_every_record_once(spillway, tmp_path):
    peers = receivers(tmp_path, 3)
    n = 300_000
    try:
        # Weights choose batches; many small ones (25 ms) make the record shares follow them.
        env = forward_env(address(peers, "?weight=60", "?weight=30", "?weight=10"), SPILLWAY_FORWARD_BALANCE="weighted",
                          SPILLWAY_FLUSH_INTERVAL="25ms")
        proc, report, _ = start_writer(tmp_path, env, rate=30_000, count=n, seconds=60, size=60)
        out, err = finish(proc, timeout=120)
    finally:
        stop_all(p for p, _ in peers)
    got = [seqs(read_events(events)) for _, events in peers]
    shares = [100 * len(g) / n for g in got]
    print(f"shares {shares[0]:.1f} / {shares[1]:.1f} / {shares[2]:.1f} %")
    assert json.loads(report.read_text())["written"] == n
    assert sorted(s for g in got for s in g) == list(range(n)), "a record was lost or duplicated"
    for share, weight in zip(shares, (60, 30, 10)):
        assert abs(share - weight) <= 5, shares
    fields = summary_line(err)
    assert fields["delivered"] == n and fields["dropped"] == 0


def test_a_receiver_killed_and_restarted_loses_nothing_and_gets_traffic_again(spillway, tmp_path):
    peers = receivers(tmp_path, 3)
    victim, victim_events = peers[1]
    port = victim.port
    back = None
    n = 36_000
    try:
        env = forward_env(address(peers, "", "", ""), SPILLWAY_FORWARD_BALANCE="round-robin",
                          SPILLWAY_FORWARD_RECOVER_WAIT="2s", SPILLWAY_MAX_BUFFER_SIZE="256k")
        proc, report, progress = start_writer(tmp_path, env, rate=2000, count=n, seconds=30)
        time.sleep(3.0)
        victim.signal(signal.SIGKILL)
        victim.stop()
        time.sleep(10.0)
        back, back_events = restart(tmp_path, port, "back.jsonl")
        returned = time.time()
        out, err = finish(proc, timeout=60)
    finally:
        stop_all([p for p, _ in peers] + [back])
    got = [seqs(read_events(events)) for _, events in peers] + [seqs(read_events(back_events))]
    assert sorted(set(s for g in got for s in g)) == list(range(json.loads(report.read_text())["written"]))
    assert summary_line(err)["dropped"] == 0
    # Back in traffic within the recover wait (2 s) plus the probe interval (1 s) and some slack.
    first = min(event_seconds(read_events(back_events)), default=None)
    assert first is not None, "the restarted receiver got no traffic"
    assert first - returned < 4.5, first - returned


def test_all_down_then_one_back_blocking_resumes_within_a_second(spillway, tmp_path):
    peers = receivers(tmp_path, 3)
    ports = [p.port for p, _ in peers]
    back = None
    n = 20_000
    try:
        env = forward_env(address(peers, "", "", ""), SPILLWAY_FORWARD_BALANCE="round-robin",
                          SPILLWAY_MAX_BUFFER_SIZE="256k")
        # 2 MB/s: the buffer and the pipe (1 MiB) fill within a second once every receiver is gone.
        proc, report, progress = start_writer(tmp_path, env, rate=2000, count=n, seconds=40, size=1000)
        time.sleep(2.0)
        for peer, _ in peers:
            peer.signal(signal.SIGKILL)
            peer.stop()
        time.sleep(3.0)
        stalled = read_int(progress)
        time.sleep(1.0)
        assert read_int(progress) == stalled, "the writer kept writing while every receiver was down"
        back, back_events = restart(tmp_path, ports[2], "back.jsonl")
        returned = time.monotonic()
        assert wait_for(lambda: read_int(progress) > stalled, timeout=10), "the writer never resumed"
        resumed = time.monotonic() - returned
        print(f"resumed {resumed * 1000:.0f} ms after a receiver returned")
        out, err = finish(proc, timeout=60)
    finally:
        stop_all([p for p, _ in peers] + [back])
    # Probed every second; the progress file itself is written only every 100 ms.
    assert resumed < 1.6, resumed
    got = [seqs(read_events(events)) for _, events in peers] + [seqs(read_events(back_events))]
    assert sorted(set(s for g in got for s in g)) == list(range(n))
    assert summary_line(err)["dropped"] == 0


def test_a_standby_takes_traffic_only_while_a_regular_server_is_down(spillway, tmp_path):
    peers = receivers(tmp_path, 3)
    (first, first_events), (second, second_events), (standby, standby_events) = peers
    port = second.port
    back = None
    n = 16_000
    try:
        env = forward_env(address(peers, "", "", "?standby=true"), SPILLWAY_FORWARD_BALANCE="weighted",
                          SPILLWAY_FORWARD_RECOVER_WAIT="1s")
        proc, report, progress = start_writer(tmp_path, env, rate=1000, count=n, seconds=30)
        time.sleep(3.0)
        assert not read_events(standby_events), "the standby took traffic while every regular server was up"
        assert read_events(second_events)
        second.signal(signal.SIGKILL)
        second.stop()
        time.sleep(3.0)
        during = len(read_events(standby_events))
        back, back_events = restart(tmp_path, port, "back.jsonl")
        # Probe (1 s) plus recover wait (1 s), then the standby is left alone again.
        time.sleep(3.5)
        after_recovery = len(read_events(standby_events))
        out, err = finish(proc, timeout=60)
    finally:
        stop_all([p for p, _ in peers] + [back])
    assert during > 0, "the standby did not stand in for the server that was down"
    assert len(read_events(standby_events)) == after_recovery, "the standby kept traffic after the recovery"
    assert read_events(back_events), "the recovered server got no traffic"
    got = [seqs(read_events(events)) for _, events in peers] + [seqs(read_events(back_events))]
    assert sorted(set(s for g in got for s in g)) == list(range(n))
    assert summary_line(err)["dropped"] == 0


def localhost_has_both_families():
    """`localhost` resolves to 127.0.0.1 and ::1, and ::1 can be bound (IPv6 is on)."""
    import socket
    try:
        found = {info[4][0] for info in socket.getaddrinfo("localhost", None, type=socket.SOCK_STREAM)}
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return {"127.0.0.1", "::1"} <= found


def test_every_address_of_a_name_is_a_server(spillway, tmp_path):
    if not localhost_has_both_families():
        pytest.skip("localhost does not resolve to both 127.0.0.1 and ::1 here")
    v4, v4_events = receiver(tmp_path, name="v4.jsonl")
    v6 = None
    n = 20_000
    try:
        v6, v6_events = receiver(tmp_path, name="v6.jsonl", listen=f"tcp:[::1]:{v4.port}")
        env = forward_env(f"tcp://localhost:{v4.port}", SPILLWAY_FORWARD_BALANCE="round-robin",
                          SPILLWAY_FLUSH_INTERVAL="25ms")
        proc, report, _ = start_writer(tmp_path, env, rate=5_000, count=n, seconds=30)
        out, err = finish(proc, timeout=60)
    finally:
        stop_all([v4, v6])
    got = [seqs(read_events(events)) for events in (v4_events, v6_events)]
    print(f"127.0.0.1 got {len(got[0])}, ::1 got {len(got[1])}")
    assert sorted(s for g in got for s in g) == list(range(n)), "a record was lost or duplicated"
    # Round robin over the two addresses: each takes about half.
    assert all(abs(len(g) - n / 2) <= n * 0.15 for g in got), [len(g) for g in got]
    assert summary_line(err)["delivered"] == n
