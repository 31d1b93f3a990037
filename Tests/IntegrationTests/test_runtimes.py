"""Issue 10: spillway inside a real container runtime, as PID 1 of an OCI container run by runc.

The bundle is built here: a rootfs with busybox-static, the static release binary
(scripts/build-release; SPILLWAY_RELEASE_BIN) and exactly the shared libraries `ldd` lists for
it — what a slim image must carry. Host network, so the receiver on 127.0.0.1 is reachable.
Needs root, runc and busybox-static; skipped, saying which is missing, otherwise.
"""
import json
import os
import re
import shutil
import subprocess
import time

import pytest

from conftest import ROOT, console_records, summary_line
from peerlib import Peer, read_events
from test_forward import receiver, seqs

BUSYBOX = "/bin/busybox"


def release_binary():
    return os.environ.get("SPILLWAY_RELEASE_BIN") or os.path.join(ROOT, ".build", "dist", "spillway")


def missing():
    if os.geteuid() != 0:
        return "runc needs root"
    if not shutil.which("runc"):
        return "runc is not installed (apt-get install runc)"
    if not is_static(BUSYBOX):
        return "busybox-static is not installed (apt-get install busybox-static)"
    if not os.access(release_binary(), os.X_OK):
        return f"no static release binary at {release_binary()} (scripts/build-release)"
    return None


def is_static(path):
    if not os.path.exists(path):
        return False
    ldd = subprocess.run(["ldd", path], capture_output=True, text=True)
    return "not a dynamic executable" in ldd.stdout + ldd.stderr


pytestmark = pytest.mark.skipif(missing() is not None, reason=str(missing()))


def runtime_libraries(binary):
    """The absolute paths of the shared objects `ldd` resolves for `binary`."""
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    return sorted({m for m in re.findall(r"(/\S+)", out)})


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory):
    root = tmp_path_factory.mktemp("bundle-rootfs")
    for d in ("bin", "proc", "dev", "sys", "tmp", "storage"):
        (root / d).mkdir()
    shutil.copy2(BUSYBOX, root / "bin" / "busybox")
    shutil.copy2(release_binary(), root / "spillway")
    for lib in runtime_libraries(release_binary()):
        target = root / lib.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(os.path.realpath(lib), target)
    return root


class Container:
    """One `runc run` of the bundle; `wait()` returns runc's exit status (the container's)."""

    def __init__(self, bundle, rootfs, name, script, env, storage=None):
        subprocess.run(["runc", "spec", "--bundle", str(bundle)], check=True)
        config_path = bundle / "config.json"
        config = json.loads(config_path.read_text())
        config["root"] = {"path": str(rootfs), "readonly": False}
        config["process"]["terminal"] = False
        config["process"]["args"] = ["/spillway", "--", "/bin/busybox", "sh", "-c", script]
        if os.environ.get("SPILLWAY_TEST_SECCOMP_SELF") == "1":  # the confined pass: PID 1 confined too
            env = {"SPILLWAY_SECCOMP_SELF": "true", **env}
        config["process"]["env"] = ["PATH=/bin", *[f"{k}={v}" for k, v in env.items()]]
        config["linux"]["namespaces"] = [n for n in config["linux"]["namespaces"] if n["type"] != "network"]
        if storage:
            config["mounts"].append({"destination": "/storage", "type": "bind", "source": str(storage),
                                     "options": ["rbind", "rw"]})
        config_path.write_text(json.dumps(config))
        self.name = name
        self.proc = subprocess.Popen(["runc", "run", "--bundle", str(bundle), name],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def kill(self, sig):
        subprocess.run(["runc", "kill", self.name, sig], check=True)

    def wait(self, timeout=60):
        try:
            self.stdout, self.stderr = self.proc.communicate(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                subprocess.run(["runc", "kill", self.name, "KILL"])
                self.proc.wait()
            subprocess.run(["runc", "delete", "--force", self.name], capture_output=True)
        return self.proc.returncode


@pytest.fixture
def container(tmp_path, rootfs):
    made = []

    def make(script, storage=None, **env):
        bundle = tmp_path / f"bundle-{len(made)}"
        bundle.mkdir()
        c = Container(bundle, rootfs, f"spillway-test-{os.getpid()}-{time.monotonic_ns()}", script,
                      {k: str(v) for k, v in env.items()}, storage)
        made.append(c)
        return c

    yield make
    for c in made:
        if c.proc.poll() is None:
            c.wait(timeout=5)


def forward_env(port, **extra):
    env = dict(SPILLWAY_SINK="forward", SPILLWAY_FORWARD_ADDRESS=f"tcp://127.0.0.1:{port}",
               SPILLWAY_FLUSH_INTERVAL="100ms", SPILLWAY_SHUTDOWN_TIMEOUT="10s")
    env.update(extra)
    return env


def test_spillway_is_pid_1_and_the_exit_code_is_the_workloads(container):
    c = container("echo pid1=$(cat /proc/1/comm) parent=$PPID; echo to-stderr >&2; exit 7")
    assert c.wait() == 7, c.stderr.decode()
    logs = {r["log"]: r["source"] for r in console_records(c.stdout)}
    assert logs == {"pid1=spillway parent=1": "stdout", "to-stderr": "stderr"}
    assert summary_line(c.stderr)["code"] == 7


def test_a_signal_killing_the_workload_gives_128_plus_n(container):
    assert container("kill -KILL $$").wait() == 128 + 9


def test_runc_kill_reaches_the_workload(container, tmp_path):
    c = container("trap 'echo got TERM; exit 42' TERM; echo ready; while true; do sleep 0.1; done")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        state = subprocess.run(["runc", "state", c.name], capture_output=True, text=True)
        if state.returncode == 0 and json.loads(state.stdout)["status"] == "running":
            break
        time.sleep(0.1)
    time.sleep(0.5)  # the trap is set once "ready" is printed; the loop is running by now
    c.kill("TERM")
    assert c.wait() == 42, c.stderr.decode()
    assert [r["log"] for r in console_records(c.stdout)] == ["ready", "got TERM"]


def test_orphans_are_reaped(container):
    script = ("for i in 1 2 3 4 5 6 7 8; do (sh -c 'exit 0' &); done; sleep 1; "
              "echo zombies=$(grep -l '^State:.*Z' /proc/[0-9]*/status 2>/dev/null | wc -l)")
    c = container(script)
    assert c.wait() == 0, c.stderr.decode()
    assert [r["log"] for r in console_records(c.stdout)] == ["zombies=0"]


@pytest.mark.parametrize("mode", ["blocking", "non-blocking", "filesystem"])
def test_delivery_in_each_mode(container, tmp_path, mode):
    peer, events = receiver(tmp_path)
    with peer:
        c = container("i=0; while [ $i -lt 2000 ]; do echo seq=$i line; i=$((i+1)); done",
                      **forward_env(peer.port, SPILLWAY_MODE=mode, SPILLWAY_STORAGE_PATH="/storage",
                                    SPILLWAY_MAX_BUFFER_SIZE="4m"))
        assert c.wait() == 0, c.stderr.decode()
        assert summary_line(c.stderr)["delivered"] == 2000
    assert seqs(read_events(events)) == list(range(2000))


def test_filesystem_backlog_survives_a_container_restart(container, tmp_path):
    storage = tmp_path / "storage"
    storage.mkdir()
    peer, events = receiver(tmp_path)
    port = peer.port
    peer.stop()  # the receiver is down while the first container runs
    first = container("i=0; while [ $i -lt 500 ]; do echo seq=$i line; i=$((i+1)); done", storage=storage,
                      **forward_env(port, SPILLWAY_MODE="filesystem", SPILLWAY_STORAGE_PATH="/storage",
                                    SPILLWAY_SHUTDOWN_TIMEOUT="1s"))
    assert first.wait() == 0, first.stderr.decode()
    assert summary_line(first.stderr)["buffered"] == 500
    with Peer("forward_receiver.py", str(tmp_path), "--events", str(events), listen=f"tcp:127.0.0.1:{port}"):
        second = container("echo after restart", storage=storage,
                           **forward_env(port, SPILLWAY_MODE="filesystem", SPILLWAY_STORAGE_PATH="/storage"))
        assert second.wait() == 0, second.stderr.decode()
        assert summary_line(second.stderr)["buffered"] == 0
    logs = [e["record"]["log"] for e in read_events(events)]
    assert seqs(read_events(events)) == list(range(500))
    assert logs[-1] == b"after restart"

