"""Issue 15: the Prometheus endpoint (scraped by a real Prometheus and parsed by prometheus_client),
the stall and drop diagnostics."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import base_env, run, summary_line
from peerlib import Peer, free_port
from writerlib import finish, start_writer

PROMETHEUS = shutil.which("prometheus")


def forward_env(receiver_port, metrics, **extra):
    env = dict(SPILLWAY_SINK="forward", SPILLWAY_FORWARD_ADDRESS=f"tcp://127.0.0.1:{receiver_port}",
               SPILLWAY_FLUSH_INTERVAL="100ms", SPILLWAY_SHUTDOWN_TIMEOUT="10s", SPILLWAY_METRICS_ADDRESS=metrics)
    env.update(extra)
    return base_env(**env)


def http(address, method="GET", path="/metrics", timeout=5):
    """(status, body) of one request to a tcp:// or unix:// metrics address."""
    if address.startswith("unix://"):
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(timeout)
            s.connect(address[len("unix://"):])
            s.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        return int(head.split()[1]), body.decode()
    request = urllib.request.Request(address.replace("tcp://", "http://") + path, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def scrape(address):
    """{name: {labels tuple: value}} of one scrape, parsed by prometheus_client."""
    status, body = http(address)
    assert status == 200, body
    samples = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def total(samples, name):
    return sum(samples.get(name, {}).values())


def wait_for_endpoint(address, proc, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            return scrape(address)
        except (OSError, urllib.error.URLError):
            time.sleep(0.05)
    raise TimeoutError(address)


class Prometheus:
    """Debian's prometheus on 127.0.0.1, scraping `target` every second; stopped by its PID."""

    def __init__(self, tmp_path, target):
        self.port = free_port()
        config = tmp_path / "prometheus.yml"
        config.write_text("global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n"
                          "scrape_configs:\n  - job_name: spillway\n    static_configs:\n"
                          f"      - targets: ['{target}']\n")
        self.proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=subprocess.DEVNULL, stderr=open(tmp_path / "prometheus.log", "wb"))
        deadline = time.monotonic() + 30
        # Ready, and the target discovered (scrapes start a few seconds after ready).
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/v1/targets", timeout=1) as response:
                    if json.load(response)["data"]["activeTargets"]:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise TimeoutError("prometheus did not become ready")

    def query(self, expression):
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
        with urllib.request.urlopen(url, timeout=5) as response:
            result = json.load(response)
        assert result["status"] == "success", result
        return result["data"]["result"]

    def value(self, expression):
        result = self.query(expression)
        return sum(float(r["value"][1]) for r in result) if result else None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def receiver(tmp_path):
    return Peer("forward_receiver.py", str(tmp_path), "--events", str(tmp_path / "events.jsonl"))


# Writes `count` lines at about `rate` per second, then lingers so the final figures get scraped.
LINGERING_WRITER = ("import os, sys, time\n"
                    "count, rate, linger = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])\n"
                    "for i in range(count):\n"
                    "    os.write(1, b'seq=%d ' % i + b'x' * 80 + b'\\n')\n"
                    "    if i % 100 == 99: time.sleep(100 / rate)\n"
                    "time.sleep(linger)\n")


# --- the endpoint itself -------------------------------------------------------------------

@pytest.mark.parametrize("address", ["tcp", "tcp6", "unix"])
def test_endpoint_serves_metrics_404_and_405(spillway, tmp_path, address):
    if address == "tcp":
        metrics = f"tcp://127.0.0.1:{free_port()}"
    elif address == "tcp6":
        if not socket.has_ipv6:
            pytest.skip("no IPv6")
        metrics = f"tcp://[::1]:{free_port()}"
    else:
        metrics = f"unix://{tmp_path}/metrics.sock"
    env = base_env(SPILLWAY_METRICS_ADDRESS=metrics)
    proc = subprocess.Popen([spillway, "--", sys.executable, "-c", "import time; print('hi', flush=True); time.sleep(3)"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        samples = wait_for_endpoint(metrics, proc)
        assert samples["spillway_workload_pid"][()] > 0
        assert samples["process_start_time_seconds"][()] > time.time() - 60
        assert samples["process_resident_memory_bytes"][()] > 1 << 20
        assert samples["process_open_fds"][()] > 3
        assert samples["spillway_destination_up"][()] == 1
        assert http(metrics, path="/")[0] == 404
        assert http(metrics, path="/other")[0] == 404
        assert http(metrics, method="POST")[0] == 405
    finally:
        out, err = finish(proc, timeout=30)
    assert proc.returncode == 0, err
    if address == "unix":
        assert not os.path.exists(metrics[len("unix://"):]), "the socket file outlived spillway"


@pytest.mark.parametrize("value", ["127.0.0.1:9464", "tls://127.0.0.1:9464", "tcp://127.0.0.1", "http://127.0.0.1:1"])
def test_a_bad_address_is_125_naming_the_variable(spillway, value):
    result = run(["--", "true"], env=base_env(SPILLWAY_METRICS_ADDRESS=value))
    assert result.returncode == 125
    assert b"SPILLWAY_METRICS_ADDRESS" in result.stderr


def test_an_address_in_use_is_125_naming_the_variable(spillway):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        result = run(["--", "true"], env=base_env(SPILLWAY_METRICS_ADDRESS=f"tcp://127.0.0.1:{busy.getsockname()[1]}"))
    assert result.returncode == 125
    assert b"SPILLWAY_METRICS_ADDRESS" in result.stderr


def timed_scrape(address):
    """(seconds the scrape took, its samples)."""
    began = time.monotonic()
    samples = scrape(address)
    return time.monotonic() - began, samples


def test_the_endpoint_answers_while_a_passthrough_write_blocks_the_pipeline(spillway, tmp_path):
    """SPILLWAY_PASSTHROUGH=true into a pipe nobody reads, the destination down: the pipeline
    blocks in write(2), the scrape still answers at once, and the blocked time is backpressure."""
    metrics = f"tcp://127.0.0.1:{free_port()}"
    env = forward_env(free_port(), metrics, SPILLWAY_PASSTHROUGH="true", SPILLWAY_STALL_WARNING="1s",
                      SPILLWAY_SHUTDOWN_TIMEOUT="1s")
    writer = "import os\nfor i in range(20000): os.write(1, b'x' * 200 + b'\\n')\n"
    stderr = open(tmp_path / "stderr", "w+b")
    proc = subprocess.Popen([spillway, "--", sys.executable, "-c", writer], env=env,
                            stdout=subprocess.PIPE, stderr=stderr)  # stdout: read by nobody until the end
    try:
        wait_for_endpoint(metrics, proc)
        time.sleep(2.5)
        took, samples = timed_scrape(metrics)
        later_took, later = timed_scrape(metrics)
        warned = (tmp_path / "stderr").read_bytes().decode()
        proc.terminate()  # handed to the workload; reading stdout unblocks the passthrough
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    print(f"scrapes took {took:.3f} s and {later_took:.3f} s; backpressure {later['spillway_backpressure_seconds_total'][()]}")
    assert took < 1.0 and later_took < 1.0
    assert samples["spillway_records_read_total"][(("stream", "stdout"),)] < 20000
    assert later["spillway_backpressure_seconds_total"][()] >= 2.0
    lines = [l for l in warned.splitlines() if "the workload is blocked on logging" in l]
    assert len(lines) == 1 and "SPILLWAY_PASSTHROUGH=true" in lines[0] and "for 1s" in lines[0], warned
    after = (tmp_path / "stderr").read_bytes().decode()
    assert "no longer blocked on logging" in after and "spillway: exit code=" in after, after


# --- the counters equal the summary at exit, scraped by Prometheus ---------------------------

MODES = {
    "blocking": dict(SPILLWAY_MAX_BUFFER_SIZE="256k"),
    "non-blocking": dict(SPILLWAY_MODE="non-blocking", SPILLWAY_MAX_BUFFER_SIZE="64k"),
    "filesystem": dict(SPILLWAY_MODE="filesystem"),
}


@pytest.mark.skipif(PROMETHEUS is None, reason="needs Debian's prometheus (scripts/install-deps)")
@pytest.mark.parametrize("outage", [False, True], ids=["steady", "outage"])
@pytest.mark.parametrize("mode", list(MODES))
def test_prometheus_sees_the_summary_figures(spillway, tmp_path, mode, outage):
    port = free_port()
    metrics = f"tcp://127.0.0.1:{port}"
    prometheus = Prometheus(tmp_path, f"127.0.0.1:{port}")
    peer = receiver(tmp_path)
    extra = dict(MODES[mode])
    if mode == "filesystem":
        extra["SPILLWAY_STORAGE_PATH"] = str(tmp_path / "storage")
    count = 20_000 if outage else 5_000
    proc = subprocess.Popen([spillway, "--", sys.executable, "-c", LINGERING_WRITER, str(count), "10000", "4"],
                            env=forward_env(peer.port, metrics, **extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        during = wait_for_endpoint(metrics, proc)
        assert "spillway_records_delivered_total" in during
        if outage:
            time.sleep(0.3)
            peer.signal(signal.SIGSTOP)
            time.sleep(2.0)
            down = scrape(metrics)  # answers while the destination is down (and a blocking workload stalls)
            assert down["spillway_destination_up"][()] in (0, 1)
            peer.signal(signal.SIGCONT)
        out, err = finish(proc, timeout=60)
        fields = summary_line(err)
        time.sleep(1.5)  # the last scrapes are in
        got = {name: prometheus.value(f'last_over_time({name}{{job="spillway"}}[1m])') for name in [
            "spillway_records_delivered_total", "spillway_records_dropped_total", "spillway_bytes_delivered_total",
            "spillway_records_read_total", "spillway_buffered_records"]}
        by_label = {name: {r["metric"][label]: float(r["value"][1])
                           for r in prometheus.query(f'last_over_time({name}{{job="spillway"}}[1m])')}
                    for name, label in [("spillway_bytes_read_total", "stream"), ("spillway_records_dropped_total", "reason")]}
    finally:
        peer.signal(signal.SIGCONT)
        peer.stop()
        prometheus.stop()
    print(f"{mode} outage={outage}: summary {fields}; prometheus {got}")
    assert proc.returncode == 0, err
    assert got["spillway_records_delivered_total"] == fields["delivered"]
    assert (got["spillway_records_dropped_total"] or 0) == fields["dropped"]
    assert got["spillway_bytes_delivered_total"] == fields["bytes"]
    assert got["spillway_records_read_total"] == count
    assert got["spillway_buffered_records"] == fields["buffered"]
    assert fields["delivered"] + fields["dropped"] == count
    assert by_label["spillway_bytes_read_total"] == {"stdout": written_bytes(count), "stderr": 0}
    assert {r: n for r, n in by_label["spillway_records_dropped_total"].items() if n} == summary_reasons(err)
    assert "non-blocking buffer full" in by_label["spillway_records_dropped_total"]  # there from the start, at 0


def written_bytes(count):
    """What LINGERING_WRITER writes for `count` lines."""
    return sum(len(b"seq=%d " % i) + 81 for i in range(count))


def summary_reasons(stderr):
    """{reason: records} of the summary's "(dropped: N reason, ...)"."""
    line = [l for l in stderr.decode().splitlines() if l.startswith("spillway: exit code=")][-1]
    if "(dropped: " not in line:
        return {}
    reasons = {}
    for part in line.split("(dropped: ", 1)[1].rstrip(")").split(", "):
        n, _, reason = part.partition(" ")
        reasons[reason] = float(n)
    return reasons


def test_the_endpoint_answers_during_the_shutdown_drain(spillway, tmp_path):
    """A receiver that takes the records and never acks: the drain waits out the shutdown
    timeout, and every scrape meanwhile answers at once."""
    peer = Peer("forward_receiver.py", str(tmp_path), "--no-ack")
    metrics = f"tcp://127.0.0.1:{free_port()}"
    env = forward_env(peer.port, metrics, SPILLWAY_SHUTDOWN_TIMEOUT="4s", SPILLWAY_FORWARD_ACK_TIMEOUT="30s")
    proc = subprocess.Popen([spillway, "--", sys.executable, "-c", LINGERING_WRITER, "1000", "10000", "0.5"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for_endpoint(metrics, proc)
        time.sleep(1.5)  # the workload has exited: the drain runs
        durations = []
        while proc.poll() is None and len(durations) < 10:
            try:
                took, samples = timed_scrape(metrics)
            except OSError:
                break  # spillway closed the endpoint at exit
            durations.append(took)
            assert samples["spillway_records_read_total"][(("stream", "stdout"),)] == 1000
            # Accepted and never acked: up until the ack timeout fails a send (README, Metrics).
            assert samples["spillway_destination_up"][()] == 1
            time.sleep(0.2)
        out, err = finish(proc, timeout=30)
    finally:
        peer.stop()
    print(f"scrapes during the drain took {[round(d, 3) for d in durations]} s")
    assert len(durations) >= 5, durations
    assert max(durations) < 1.0, durations
    assert summary_line(err)["delivered"] == 0


# --- backpressure seconds ------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["blocking", "filesystem"])
def test_backpressure_seconds_are_the_writers_stall(spillway, tmp_path, mode):
    peer = receiver(tmp_path)
    metrics = f"tcp://127.0.0.1:{free_port()}"
    extra = dict(SPILLWAY_MAX_BUFFER_SIZE="256k") if mode == "blocking" else dict(
        SPILLWAY_MODE="filesystem", SPILLWAY_STORAGE_PATH=str(tmp_path / "storage"))
    env = forward_env(peer.port, metrics, SPILLWAY_SHUTDOWN_TIMEOUT="20s", **extra)
    proc, report, progress = start_writer(tmp_path, env, rate=10_000, count=80_000, seconds=8, size=2000)
    try:
        wait_for_endpoint(metrics, proc)
        time.sleep(0.5)
        before = scrape(metrics)["spillway_backpressure_seconds_total"][()]
        peer.signal(signal.SIGSTOP)
        time.sleep(3.0)
        peer.signal(signal.SIGCONT)
        time.sleep(0.5)
        samples = scrape(metrics)
        out, err = finish(proc, timeout=90)
    finally:
        peer.signal(signal.SIGCONT)
        peer.stop()
    written = json.loads(report.read_text())
    # The outage's pause: the readers stop when the buffer is full, the writer once the pipe is too.
    paused = samples["spillway_backpressure_seconds_total"][()] - before
    print(f"{mode}: backpressure {paused:.3f} s; writer's longest write {written['longest_write']:.3f} s")
    assert summary_line(err)["dropped"] == 0
    if mode == "blocking":
        assert written["longest_write"] >= 1.5, written
        assert abs(paused - written["longest_write"]) <= 0.2 * written["longest_write"], (paused, written)
    else:
        assert paused == 0
        assert written["longest_write"] < 0.5, written


# --- diagnostics: one line when an episode starts, one when it ends ---------------------------

def outages(peer, count, down=2.5, up=2.0):
    for _ in range(count):
        peer.signal(signal.SIGSTOP)
        time.sleep(down)
        peer.signal(signal.SIGCONT)
        time.sleep(up)


@pytest.mark.parametrize("episodes", [1, 2])
def test_stall_warning_and_resume_once_per_episode(spillway, tmp_path, episodes):
    peer = receiver(tmp_path)
    env = forward_env(peer.port, f"tcp://127.0.0.1:{free_port()}", SPILLWAY_MAX_BUFFER_SIZE="256k",
                      SPILLWAY_STALL_WARNING="1s")
    proc, report, progress = start_writer(tmp_path, env, rate=10_000, count=10_000_000, seconds=1 + 4.5 * episodes,
                                          size=500)
    try:
        time.sleep(1.0)
        outages(peer, episodes)
        out, err = finish(proc, timeout=60)
    finally:
        peer.signal(signal.SIGCONT)
        peer.stop()
    text = err.decode()
    warnings = [l for l in text.splitlines() if "the workload is blocked on logging" in l]
    resumes = [l for l in text.splitlines() if "no longer blocked on logging" in l]
    print("\n".join(warnings + resumes))
    assert len(warnings) == episodes, text
    assert len(resumes) == episodes, text
    assert f"tcp://127.0.0.1:{peer.port}" in warnings[0]
    assert "for 1s" in warnings[0] and "SPILLWAY_MODE=filesystem" in warnings[0]
    assert summary_line(err)["dropped"] == 0


@pytest.mark.parametrize("episodes", [1, 2])
def test_non_blocking_drop_start_and_stop_once_per_episode(spillway, tmp_path, episodes):
    peer = receiver(tmp_path)
    # 256k: an outage overflows it after about 1.3 s, a scheduling hiccup of the shared machine
    # (a 64k buffer once overflowed at exit, a second, real episode) does not.
    env = forward_env(peer.port, f"tcp://127.0.0.1:{free_port()}", SPILLWAY_MODE="non-blocking",
                      SPILLWAY_MAX_BUFFER_SIZE="256k")
    proc, report, progress = start_writer(tmp_path, env, rate=2_000, count=10_000_000, seconds=1 + 5.5 * episodes)
    try:
        time.sleep(1.0)
        outages(peer, episodes, up=3.0)  # an episode ends after a second without drops
        out, err = finish(proc, timeout=60)
    finally:
        peer.signal(signal.SIGCONT)
        peer.stop()
    lines = err.decode().splitlines()
    starts = [l for l in lines if "dropping records: the non-blocking buffer is full" in l]
    stops = [l for l in lines if "stopped dropping records" in l]
    print("\n".join(starts + stops))
    assert len(starts) == episodes, lines
    assert len(stops) == episodes, lines
    counted = sum(int(l.split("stopped dropping records")[1].split(":")[1].split()[0]) for l in stops)
    assert counted == summary_line(err)["dropped"] > 0
    # Drops stop within a second of the receiver's return: an episode lasts at most the 2.5 s
    # outage + 1 s (+ 0.5 s of slack for a debug build on a shared machine).
    spans = [float(l.rsplit(" over ", 1)[1].rstrip("s")) for l in stops]
    assert all(span < 4.0 for span in spans), spans


@pytest.mark.skipif(shutil.which("promtool") is None, reason="needs Debian's prometheus (promtool)")
def test_the_shipped_scrape_config_is_valid():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shim-configs", "prometheus", "spillway.yml")
    result = subprocess.run(["promtool", "check", "config", path], capture_output=True)
    assert result.returncode == 0, result.stdout + result.stderr


# --- prompt recovery: a probe every second while the destination is down ----------------------

@pytest.mark.parametrize("outage", [1, 10, 40])
def test_writes_and_delivery_resume_within_a_second_of_the_receivers_return(spillway, tmp_path, outage):
    from peerlib import read_events
    from writerlib import read_int
    peer = receiver(tmp_path)
    port = peer.port
    env = forward_env(port, f"tcp://127.0.0.1:{free_port()}", SPILLWAY_MAX_BUFFER_SIZE="64k")
    proc, report, progress = start_writer(tmp_path, env, rate=10_000, count=10_000_000, seconds=outage + 6, size=200)
    second = None
    try:
        time.sleep(1.0)
        peer.signal(signal.SIGKILL)
        peer.stop()
        time.sleep(outage)
        blocked_at = read_int(progress)
        events = tmp_path / "events2.jsonl"
        second = Peer("forward_receiver.py", str(tmp_path), "--events", str(events), listen=f"tcp:127.0.0.1:{port}")
        back = time.monotonic()
        writes = delivery = None
        while time.monotonic() - back < 10 and (writes is None or delivery is None):
            if writes is None and read_int(progress) > blocked_at:
                writes = time.monotonic() - back
            if delivery is None and events.exists() and read_events(events):
                delivery = time.monotonic() - back
            time.sleep(0.02)
        out, err = finish(proc, timeout=60)
    finally:
        if second:
            second.stop()
    print(f"outage {outage}s: writes resumed after {writes}s, delivery after {delivery}s")
    assert writes is not None and delivery is not None
    # Within 1 s of the restart, with slack for a debug build on a shared machine.
    assert writes < 2.0 and delivery < 2.0, (writes, delivery)
    assert summary_line(err)["dropped"] == 0
