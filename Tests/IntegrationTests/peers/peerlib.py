"""Helpers shared by the test peers and by the tests that drive them.

The receivers import the listener helpers; tests import the rest to start a peer,
wait until it listens, and read back what it recorded.
"""
import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time

PEERS_DIR = os.path.dirname(os.path.abspath(__file__))


# --- used by the receivers ---------------------------------------------------------------

def open_listener(spec):
    """Binds `tcp:HOST:PORT` (port 0 picks a free one) or `unix:/path`.

    Returns (socket, value for the port file): the actual port, or the socket path.
    """
    kind, _, address = spec.partition(":")
    if kind == "tcp":
        host, _, port = address.rpartition(":")
        host = host.strip("[]")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, int(port)))
        sock.listen(128)
        return sock, str(sock.getsockname()[1])
    if kind == "unix":
        if os.path.exists(address):
            os.unlink(address)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(address)
        sock.listen(128)
        return sock, address
    raise ValueError(f"--listen must be tcp:HOST:PORT or unix:PATH, got {spec!r}")


def accept_forever(listener):
    """Yields accepted sockets until a signal handler raises.

    The kernel may deliver a signal to any thread; one delivered to a serve thread leaves
    the main thread asleep in accept(), and Python runs handlers only in the main thread.
    A short accept timeout bounds that wait (a SIGTERM once went unanswered for 5 s in CI).
    """
    listener.settimeout(0.2)
    while True:
        try:
            sock, _ = listener.accept()
        except TimeoutError:
            continue
        sock.setblocking(True)
        yield sock


def write_atomically(path, text):
    """Readers polling for `path` must never see a half-written file."""
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


# --- used by tests -----------------------------------------------------------------------

def wait_for_port_file(path, timeout=10.0):
    """Waits for a receiver's --port-file; returns the port as int, or the unix socket path."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(path) as f:
                value = f.read().strip()
        except FileNotFoundError:
            value = ""
        if value:
            return int(value) if value.isdigit() else value
        time.sleep(0.02)
    raise TimeoutError(f"no port file {path} after {timeout} s")


def read_log(path):
    """Every line the forward receiver wrote: events, {"error": ...} and {"auth_failed": ...}.

    A trailing line without its newline is still being written and is left out.
    """
    try:
        with open(path) as f:
            data = f.read()
    except FileNotFoundError:
        return []
    lines = data.split("\n")[:-1]
    return [json.loads(line) for line in lines if line]


def read_events(path):
    """The events only, with each str/bin record value decoded back to the exact bytes sent."""
    events = []
    for entry in read_log(path):
        if "tag" not in entry:
            continue
        types = entry["record_types"]
        entry["record"] = {
            key: base64.b64decode(value) if types[key] in ("str", "bin") else value
            for key, value in entry["record"].items()
        }
        events.append(entry)
    return events


def read_errors(path):
    """The protocol errors the receiver reported, as strings."""
    return [entry["error"] for entry in read_log(path) if "error" in entry]


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on (for a peer to take, or to stay refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Peer:
    """Runs one peer script as a child process; stop() ends it by its PID.

    Usage: `with Peer("forward_receiver.py", tmpdir, "--events", f) as peer: peer.port`.
    """

    def __init__(self, script, workdir, *args, listen="tcp:127.0.0.1:0", timeout=10.0):
        self.port_file = os.path.join(workdir, f"{script}.{time.monotonic_ns()}.port")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(PEERS_DIR, script),
             "--listen", listen, "--port-file", self.port_file, *args])
        try:
            self.port = wait_for_port_file(self.port_file, timeout)
        except TimeoutError:
            self.stop()
            raise

    def signal(self, signum):
        os.kill(self.proc.pid, signum)

    def stop(self, timeout=5.0):
        """SIGTERM (so --stats/--count-file get written), then SIGKILL if it hangs."""
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.proc.wait()
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
