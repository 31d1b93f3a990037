"""Issue 3, outage 5: the path to the receiver dies without a FIN or RST (iptables DROP inside a
network namespace the test creates). Blocking mode stalls the writer and loses nothing;
non-blocking mode never stalls. Root only."""
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from conftest import base_env, spillway_path, summary_line
from peerlib import read_events, wait_for_port_file
from test_forward import markers, seqs
from writerlib import WRITER, read_int

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("iptables"),
    reason="needs root, iproute2 and iptables")

RECEIVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "peers", "forward_receiver.py")


@pytest.fixture
def netns():
    name = f"spw-{os.getpid()}-{time.monotonic_ns() % 100000}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def in_ns(ns, *cmd):
    return ["ip", "netns", "exec", ns, *cmd]


def cut(ns, port, action):
    subprocess.run(in_ns(ns, "iptables", action, "INPUT", "-p", "tcp", "--dport", str(port), "-j", "DROP"), check=True)


def run_outage(ns, tmp_path, mode, rate, count, size):
    events = tmp_path / "events.jsonl"
    port_file = tmp_path / "port"
    receiver = subprocess.Popen(in_ns(ns, sys.executable, RECEIVER, "--listen", "tcp:127.0.0.1:0",
                                      "--port-file", str(port_file), "--events", str(events)))
    spillway = None
    rule = False
    try:
        port = wait_for_port_file(str(port_file))
        env = base_env(SPILLWAY_SINK="forward", SPILLWAY_FORWARD_ADDRESS=f"tcp://127.0.0.1:{port}",
                       SPILLWAY_MODE=mode, SPILLWAY_MAX_BUFFER_SIZE="256k" if mode == "blocking" else "64k",
                       SPILLWAY_FLUSH_INTERVAL="100ms", SPILLWAY_FORWARD_ACK_TIMEOUT="1s",
                       SPILLWAY_FORWARD_CONNECT_TIMEOUT="1s", SPILLWAY_FORWARD_WRITE_TIMEOUT="1s",
                       SPILLWAY_SHUTDOWN_TIMEOUT="20s")
        report, progress = tmp_path / "writer.json", tmp_path / "progress"
        spillway = subprocess.Popen(in_ns(ns, spillway_path(), "--", sys.executable, WRITER, "--rate", str(rate),
                                          "--count", str(count), "--seconds", "40", "--size", str(size),
                                          "--report", str(report), "--progress", str(progress)),
                                    env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(1.0)
        cut(ns, port, "-A")
        rule = True
        time.sleep(2.0)
        before = read_int(progress)
        time.sleep(3.0)
        after = read_int(progress)
        cut(ns, port, "-D")
        rule = False
        out, err = spillway.communicate(timeout=90)
        return json.loads(report.read_text()), before, after, read_events(events), err
    finally:
        if rule:
            cut(ns, port, "-D")
        for proc in (spillway, receiver):
            if proc and proc.poll() is None:
                proc.kill()
                proc.wait()


def test_blocking_stalls_when_the_path_is_cut_and_loses_nothing(spillway, netns, tmp_path):
    written, before, after, events, err = run_outage(netns, tmp_path, "blocking", rate=5000, count=40_000, size=200)
    assert after == before, "the writer kept writing while the path was cut"
    assert written["longest_write"] >= 2.0
    assert written["written"] == 40_000
    assert sorted(set(seqs(events))) == list(range(40_000))
    assert summary_line(err)["dropped"] == 0


def test_non_blocking_never_stalls_when_the_path_is_cut(spillway, netns, tmp_path):
    written, before, after, events, err = run_outage(netns, tmp_path, "non-blocking", rate=20_000, count=200_000, size=100)
    fields = summary_line(err)
    delivered = set(seqs(events))
    print(f"longest write {written['longest_write'] * 1000:.1f} ms; dropped {fields['dropped']}")
    assert after > before
    assert written["longest_write"] < 0.2
    assert fields["dropped"] > 0 and markers(events)
    assert len(delivered) + fields["dropped"] == written["written"]
