"""Issue 4: filesystem mode end to end — the built binary, the msgpack forward receiver, a real
storage directory; outages by stopping the receiver, crashes by SIGKILL of spillway."""
import json
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import base_env, run, summary_line
from peerlib import Peer, free_port, read_events
from test_forward import markers, seqs
from writerlib import finish, read_int, start_writer, wait_for


def fs_env(tmp_path, port, **extra):
    env = dict(SPILLWAY_SINK="forward", SPILLWAY_FORWARD_ADDRESS=f"tcp://127.0.0.1:{port}",
               SPILLWAY_MODE="filesystem", SPILLWAY_STORAGE_PATH=str(tmp_path / "storage"),
               SPILLWAY_FLUSH_INTERVAL="100ms", SPILLWAY_SHUTDOWN_TIMEOUT="20s")
    env.update(extra)
    return base_env(**env)


def start_receiver(tmp_path, port, name):
    return Peer("forward_receiver.py", str(tmp_path), "--events", str(tmp_path / name),
                listen=f"tcp:127.0.0.1:{port}")


def all_seqs(tmp_path, *names):
    got = []
    for name in names:
        got += seqs(read_events(tmp_path / name))
    return got


def first_seen_order(values):
    seen, order = set(), []
    for v in values:
        if v not in seen:
            seen.add(v)
            order.append(v)
    return order


def segments(storage):
    return sorted(p for p in storage.iterdir() if p.name.startswith("segment-"))


def assert_backlog_empty(tmp_path):
    """Everything acknowledged: a drain with no receiver at all has nothing to do."""
    result = run(["--drain"], env=fs_env(tmp_path, free_port(), SPILLWAY_SHUTDOWN_TIMEOUT="200ms"), timeout=30)
    assert result.returncode == 0, result.stderr
    assert summary_line(result.stderr)["buffered"] == 0


def write_all_while_the_receiver_is_down(tmp_path, n, size, **extra):
    """The writer writes all `n` lines with no receiver; then one starts and spillway finishes.
    Returns (the writer's report, spillway's stderr, the spillway process)."""
    port = free_port()
    proc, report, progress = start_writer(tmp_path, fs_env(tmp_path, port, **extra), rate=20_000, count=n, size=size)
    peer = None
    try:
        assert wait_for(report.exists, 30), "the writer did not finish while the receiver was down"
        peer = start_receiver(tmp_path, port, "events.jsonl")
        out, err = finish(proc, timeout=60)
    finally:
        if peer:
            peer.stop()
    return json.loads(report.read_text()), err, proc


def test_receiver_down_the_writer_never_stalls_and_every_line_arrives_after(spillway, tmp_path):
    n = 60_000
    written, err, proc = write_all_while_the_receiver_is_down(tmp_path, n, size=100)
    got = all_seqs(tmp_path, "events.jsonl")
    print(f"longest write {written['longest_write'] * 1000:.1f} ms over {n} lines with the receiver down")
    assert written["written"] == n
    assert written["longest_write"] < 0.2, written
    assert first_seen_order(got) == list(range(n)), "not every line arrived, or out of order"
    fields = summary_line(err)
    assert fields["dropped"] == 0 and fields["buffered"] == 0 and fields["delivered"] == n
    assert proc.returncode == 0
    assert_backlog_empty(tmp_path)


@pytest.mark.parametrize("resume", ["drain", "restart"])
def test_kill_9_during_the_outage_then_the_backlog_replays_in_order(spillway, tmp_path, resume):
    port = free_port()
    n = 40_000
    env = fs_env(tmp_path, port)
    proc, report, progress = start_writer(tmp_path, env, rate=20_000, count=n)
    peer = None
    try:
        assert wait_for(report.exists, 30)
        time.sleep(0.5)  # spillway reads what is left in the pipe
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        storage = tmp_path / "storage"
        assert segments(storage), "nothing on disk after the crash"
        assert (storage / "lock").exists()
        peer = start_receiver(tmp_path, port, "events.jsonl")
        if resume == "drain":
            result = run(["--drain"], env=env, timeout=60)
        else:
            result = run(["--", "sh", "-c", "echo after-restart"], env=env, timeout=60)
    finally:
        if peer:
            peer.stop()
    assert result.returncode == 0, result.stderr
    got = all_seqs(tmp_path, "events.jsonl")
    assert first_seen_order(got) == list(range(n))
    assert len(got) == n, "duplicates although nothing was in flight"
    if resume == "restart":
        logs = [e["record"]["log"] for e in read_events(tmp_path / "events.jsonl")]
        assert logs[-1] == b"after-restart", "the backlog must go out before new records"
        assert logs.index(b"after-restart") == n
    assert b"replaying" in result.stderr
    assert_backlog_empty(tmp_path)


def test_kill_9_while_delivering_loses_nothing_read_and_duplicates_stay_in_the_window(spillway, tmp_path):
    port = free_port()
    peer = start_receiver(tmp_path, port, "events.jsonl")
    env = fs_env(tmp_path, port)
    proc, report, progress = start_writer(tmp_path, env, rate=20_000, count=200_000, seconds=20)
    try:
        assert wait_for(lambda: read_int(progress) > 40_000, 30)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        peer.stop()
        before = all_seqs(tmp_path, "events.jsonl")
        peer = start_receiver(tmp_path, port, "events2.jsonl")
        result = run(["--drain"], env=env, timeout=60)
    finally:
        peer.stop()
    assert result.returncode == 0, result.stderr
    after = all_seqs(tmp_path, "events2.jsonl")
    union = set(before) | set(after)
    top = max(union)
    assert union == set(range(top + 1)), "a gap: a line spillway had read was lost"
    assert first_seen_order(before + after) == list(range(top + 1))
    duplicates = len(before) + len(after) - len(union)
    print(f"killed after {len(before)} delivered; {len(after)} replayed; {duplicates} duplicates")
    # At-least-once: only what was in flight (read, not acknowledged) comes again.
    assert duplicates <= 40_000, duplicates


def stalls_then_delivers_everything(tmp_path, storage, n, while_stalled, **extra):
    """A writer against a receiver that is down: it must stall (the limit or the disk is full)
    with spillway alive; `while_stalled()` checks more; then the receiver comes back and every
    line arrives, in order, nothing dropped."""
    port = free_port()
    env = fs_env(tmp_path, port, SPILLWAY_STORAGE_PATH=str(storage), **extra)
    proc, report, progress = start_writer(tmp_path, env, rate=20_000, count=n, size=200, seconds=60)
    peer = None
    try:
        time.sleep(3.0)
        stalled = read_int(progress)
        time.sleep(1.0)
        assert read_int(progress) == stalled < n, "the writer kept going"
        assert proc.poll() is None, "spillway died"
        while_stalled()
        peer = start_receiver(tmp_path, port, "events.jsonl")
        out, err = finish(proc, timeout=60)
    finally:
        if peer:
            peer.stop()
    assert proc.returncode == 0
    assert first_seen_order(all_seqs(tmp_path, "events.jsonl")) == list(range(n))
    assert summary_line(err)["dropped"] == 0


def test_storage_limit_with_block_stalls_the_writer_then_loses_nothing(spillway, tmp_path):
    storage = tmp_path / "storage"

    def within_the_limit():
        on_disk = sum(p.stat().st_size for p in segments(storage))
        assert on_disk <= 1 << 20, on_disk

    stalls_then_delivers_everything(tmp_path, storage, 40_000, within_the_limit, SPILLWAY_STORAGE_LIMIT="1m")


def test_storage_limit_with_drop_oldest_never_stalls_and_reports_exactly(spillway, tmp_path):
    n = 60_000
    written, err, _ = write_all_while_the_receiver_is_down(
        tmp_path, n, size=200, SPILLWAY_STORAGE_LIMIT="1m", SPILLWAY_STORAGE_FULL="drop-oldest")
    events = read_events(tmp_path / "events.jsonl")
    got = seqs(events)
    fields = summary_line(err)
    reported = [m for m in markers(events)]
    reported_count = sum(int(re.search(r"dropped (\d+) records", m).group(1)) for m in reported)
    print(f"longest write {written['longest_write'] * 1000:.1f} ms; delivered {len(got)}; dropped {fields['dropped']}")
    assert written["longest_write"] < 0.2, written
    assert fields["dropped"] > 0 and reported and "storage full" in reported[0]
    assert reported_count == fields["dropped"]
    assert len(set(got)) == len(got) and got == sorted(got)
    assert len(got) + fields["dropped"] == n
    assert got[-1] == n - 1, "the newest lines must survive drop-oldest"


def test_a_second_spillway_on_the_same_directory_exits_125_naming_it(spillway, tmp_path):
    env = fs_env(tmp_path, free_port())
    first = subprocess.Popen([spillway, "--", "sleep", "30"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert wait_for((tmp_path / "storage" / "lock").exists, 10)
        time.sleep(0.2)
        second = run(["--", "echo", "never"], env=env, timeout=30)
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(30)
    message = second.stderr.decode()
    assert second.returncode == 125
    assert str(tmp_path / "storage") in message and str(first.pid) in message
    assert "SPILLWAY_NAME" in message


def test_an_unusable_storage_path_exits_125_naming_the_variable(spillway, tmp_path):
    (tmp_path / "a-file").write_text("")
    env = fs_env(tmp_path, free_port(), SPILLWAY_STORAGE_PATH=str(tmp_path / "a-file" / "storage"))
    result = run(["--", "echo", "never"], env=env)
    assert result.returncode == 125
    assert b"SPILLWAY_STORAGE_PATH" in result.stderr
    assert result.stdout == b""


def test_a_damaged_record_is_skipped_counted_and_reported_the_rest_delivered(spillway, tmp_path):
    port = free_port()
    env = fs_env(tmp_path, port)
    code = "import os\nfor i in range(1000): os.write(1, b'seq=%d ' % i + b'y' * 80 + b'\\n')\n"
    # Let the first run stop with records on disk: a receiver that is not there, a short timeout.
    first = run(["--", "python3", "-c", code], env={**env, "SPILLWAY_SHUTDOWN_TIMEOUT": "500ms"}, timeout=60)
    assert first.returncode == 0
    assert summary_line(first.stderr)["buffered"] == 1000
    [segment] = segments(tmp_path / "storage")
    data = bytearray(segment.read_bytes())
    at = data.index(b"seq=500 ")
    data[at + 10] ^= 0x01  # one bit in the body of record 500
    segment.write_bytes(bytes(data))
    with start_receiver(tmp_path, port, "events.jsonl"):
        result = run(["--drain"], env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    events = read_events(tmp_path / "events.jsonl")
    assert seqs(events) == [i for i in range(1000) if i != 500]
    assert summary_line(result.stderr)["dropped"] == 1
    [marker] = markers(events)
    assert "dropped 1 records" in marker and "lost from the disk buffer" in marker


def test_drain_with_the_receiver_still_down_exits_1_and_keeps_the_backlog(spillway, tmp_path):
    env = fs_env(tmp_path, free_port(), SPILLWAY_SHUTDOWN_TIMEOUT="500ms")
    # More than one batch: what was never read from disk must not hold up the exit either.
    started = time.monotonic()
    first = run(["--", "sh", "-c", "seq 1 200000"], env=env, timeout=60)
    assert summary_line(first.stderr)["buffered"] == 200_000
    assert time.monotonic() - started < 10
    result = run(["--drain"], env=env, timeout=60)
    assert result.returncode == 1
    assert str(tmp_path / "storage").encode() in result.stderr
    assert summary_line(result.stderr)["buffered"] == 200_000


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_a_full_disk_is_handled_like_the_limit(spillway, tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], check=True)
    try:
        stalls_then_delivers_everything(tmp_path, mount / "storage", 30_000, lambda: None)
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def frames_end(data, cut):
    """Offset after the last whole frame of a segment's bytes that ends at or before `cut`."""
    at = 32
    while at + 8 <= len(data):
        size = 8 + int.from_bytes(data[at + 4:at + 8], "little")
        if at + size > cut:
            break
        at += size
    return at


def backlog_in_segments(tmp_path, env, n):
    """`n` lines written with the receiver down: all buffered at a clean exit, in several segments."""
    code = f"import os\nfor i in range({n}): os.write(1, b'seq=%d ' % i + b'z' * 30 + b'\\n')\n"
    first = run(["--", "python3", "-c", code], env={**env, "SPILLWAY_SHUTDOWN_TIMEOUT": "500ms"}, timeout=120)
    assert first.returncode == 0, first.stderr
    assert summary_line(first.stderr)["buffered"] == n
    found = segments(tmp_path / "storage")
    assert len(found) >= 3, found
    return found


@pytest.mark.parametrize("damage", ["truncated mid-record", "truncated to 0 bytes", "deleted", "zeroed"])
def test_damage_to_the_newest_segment_after_a_clean_exit_is_counted_exactly(spillway, tmp_path, damage):
    port = free_port()
    n = 300_000  # 3 segments of at most 8 MiB
    env = fs_env(tmp_path, port)
    newest = backlog_in_segments(tmp_path, env, n)[-1]
    data = newest.read_bytes()
    if damage == "truncated mid-record":
        cut = len(data) // 2 + 3
        newest.write_bytes(data[:cut])
        lost_bytes = len(data) - frames_end(data, cut)
    else:
        lost_bytes = len(data) - 32
        if damage == "truncated to 0 bytes":
            newest.write_bytes(b"")
        elif damage == "deleted":
            newest.unlink()
        else:
            newest.write_bytes(bytes(len(data)))
    with start_receiver(tmp_path, port, "events.jsonl"):
        result = run(["--drain"], env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    events = read_events(tmp_path / "events.jsonl")
    got = seqs(events)
    fields = summary_line(result.stderr)
    lost = n - len(got)
    print(f"{damage}: delivered {len(got)}, dropped {fields['dropped']}, {lost_bytes} bytes lost")
    assert lost > 0 and got == list(range(len(got))), "the intact older segments arrive whole, in order"
    assert fields["delivered"] == len(got) and fields["dropped"] == lost and fields["buffered"] == 0
    [marker] = markers(events)
    assert f"dropped {lost} records ({lost_bytes} bytes)" in marker, marker
    assert_backlog_empty(tmp_path)


def test_symlinks_planted_in_the_storage_directory_are_never_written_through(spillway, tmp_path):
    storage = tmp_path / "storage"
    storage.mkdir(mode=0o700)
    targets = {name: tmp_path / f"target-{name}" for name in ["lock", "ledger"]}
    for name, target in targets.items():
        target.write_bytes(b"precious\n")
        (storage / name).symlink_to(target)
    env = fs_env(tmp_path, free_port())
    for name in targets:
        result = run(["--", "echo", "never"], env=env)
        assert result.returncode == 125, result.stderr
        assert b"SPILLWAY_STORAGE_PATH" in result.stderr and f"{name} is a symbolic link".encode() in result.stderr
        (storage / name).unlink()
    assert all(target.read_bytes() == b"precious\n" for target in targets.values())


@pytest.mark.parametrize("mode", [0o777, 0o770])
def test_a_storage_directory_others_may_write_is_refused(spillway, tmp_path, mode):
    storage = tmp_path / "storage"
    storage.mkdir()
    os.chmod(storage, mode)
    result = run(["--", "echo", "never"], env=fs_env(tmp_path, free_port()))
    assert result.returncode == 125
    assert b"SPILLWAY_STORAGE_PATH" in result.stderr and f"mode {mode:o}".encode() in result.stderr
    assert list(storage.iterdir()) == []


def test_a_sticky_storage_directory_of_ours_is_accepted(spillway, tmp_path):
    storage = tmp_path / "storage"
    storage.mkdir()
    os.chmod(storage, 0o1777)
    result = run(["--", "echo", "hi"], env=fs_env(tmp_path, free_port(), SPILLWAY_SHUTDOWN_TIMEOUT="300ms"))
    assert result.returncode == 0, result.stderr
    assert summary_line(result.stderr)["buffered"] == 1


def test_drain_of_a_directory_that_does_not_exist_leaves_it_uncreated(spillway, tmp_path):
    env = fs_env(tmp_path, free_port(), SPILLWAY_STORAGE_PATH=str(tmp_path / "missing" / "storage"))
    result = run(["--drain"], env=env)
    assert result.returncode == 0, result.stderr
    assert b"nothing to drain" in result.stderr and str(tmp_path / "missing" / "storage").encode() in result.stderr
    assert not (tmp_path / "missing").exists()


@pytest.mark.parametrize("override", [False, True])
def test_drain_sends_the_backlog_with_the_names_and_fields_it_was_read_with(spillway, tmp_path, override):
    port = free_port()
    storage = tmp_path / "storage"
    env = fs_env(tmp_path, port, SPILLWAY_NAME="billing", SPILLWAY_CONTAINER_ID="c0ffee",
                 SPILLWAY_TAG="app.{name}.{id}", SPILLWAY_LABELS="team=payments", SPILLWAY_ENV="REGION",
                 SPILLWAY_SHUTDOWN_TIMEOUT="300ms", REGION="eu-1")
    result = run(["--", "sh", "-c", "echo one; echo two"], env=env)
    assert summary_line(result.stderr)["buffered"] == 2, result.stderr
    assert (storage / "origin").is_file()

    # A drain knows only where the backlog is (and, overriding, a name of its own).
    drain_env = dict(SPILLWAY_SINK="forward", SPILLWAY_FORWARD_ADDRESS=f"tcp://127.0.0.1:{port}",
                     SPILLWAY_STORAGE_PATH=str(storage))
    if override:
        drain_env.update(SPILLWAY_NAME="renamed", SPILLWAY_TAG="other")
    with start_receiver(tmp_path, port, "events.jsonl"):
        drained = run(["--drain"], env=base_env(**drain_env), timeout=60)
    assert drained.returncode == 0, drained.stderr
    events = read_events(tmp_path / "events.jsonl")
    assert [e["record"]["log"] for e in events] == [b"one", b"two"]
    for e in events:
        if override:
            assert e["tag"] == "other"
            assert e["record"]["container_name"] == b"renamed"
            assert "team" not in e["record"] and "container_id" not in e["record"]
        else:
            assert e["tag"] == "app.billing.c0ffee"
            assert e["record"]["container_name"] == b"billing"
            assert e["record"]["container_id"] == b"c0ffee"
            assert e["record"]["team"] == b"payments" and e["record"]["REGION"] == b"eu-1"


def test_a_planted_origin_link_is_replaced_not_followed(spillway, tmp_path):
    storage = tmp_path / "storage"
    storage.mkdir(mode=0o700)
    target = tmp_path / "victim"
    target.write_text("precious\n")
    (storage / "origin.new").symlink_to(target)
    result = run(["--", "echo", "x"], env=fs_env(tmp_path, free_port(), SPILLWAY_SHUTDOWN_TIMEOUT="200ms"))
    assert result.returncode == 125
    assert "origin.new is a symbolic link" in result.stderr.decode()
    assert target.read_text() == "precious\n"
