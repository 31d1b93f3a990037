"""Helpers for the CloudWatch integration tests: the environment spillway runs with, moto_server
started and stopped by PID, boto3 read-back, and the strict stand-in's files."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

from conftest import base_env
from peerlib import Peer, free_port

GROUP = "/spillway/test"
STREAM = "app/host-1"
STRICT_KEY, STRICT_SECRET = "AKIDSTRICT", "strict-secret"


def aws_free_env(**overrides):
    """base_env without AWS_* (the host's own settings must not leak in), HOME pointing nowhere."""
    env = {k: v for k, v in base_env().items() if not k.startswith("AWS_")}
    env["HOME"] = "/nonexistent"
    env.update({k: str(v) for k, v in overrides.items()})
    return env


def cloudwatch_env(endpoint, group=GROUP, stream=STREAM, key=STRICT_KEY, secret=STRICT_SECRET, **extra):
    env = dict(SPILLWAY_SINK="cloudwatch", SPILLWAY_CLOUDWATCH_GROUP=group, SPILLWAY_CLOUDWATCH_STREAM=stream,
               SPILLWAY_CLOUDWATCH_CREATE_GROUP="true", SPILLWAY_CLOUDWATCH_ENDPOINT=endpoint,
               SPILLWAY_FLUSH_INTERVAL="200ms", SPILLWAY_SHUTDOWN_TIMEOUT="20s",
               AWS_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true")
    if key:
        env.update(AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY=secret)
    env.update(extra)
    return aws_free_env(**env)


def read_jsonl(path):
    try:
        with open(path, encoding="utf-8") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in data.split("\n")[:-1] if line]


class Strict:
    """The strict stand-in (peers/cloudwatch_strict.py) with its events and request log."""

    def __init__(self, tmp_path, *args, credentials=(f"{STRICT_KEY}:{STRICT_SECRET}",)):
        self.events_path = tmp_path / "strict-events.jsonl"
        self.log_path = tmp_path / "strict-log.jsonl"
        creds = [a for c in credentials for a in ("--credentials", c)]
        self.peer = Peer("cloudwatch_strict.py", str(tmp_path), "--events", str(self.events_path),
                         "--log", str(self.log_path), *creds, *args)
        self.url = f"http://127.0.0.1:{self.peer.port}"

    def events(self):
        return read_jsonl(self.events_path)

    def messages(self):
        return [e["message"] for e in self.events()]

    def log(self):
        return read_jsonl(self.log_path)

    def errors(self):
        """Requests refused for anything but the scripted outcomes a test asked for."""
        expected = {"ResourceNotFoundException", "ResourceAlreadyExistsException",
                    "ServiceUnavailableException", "ThrottlingException"}
        return [e for e in self.log() if e.get("error") and e["error"] not in expected]

    def stop(self):
        self.peer.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class Moto:
    """moto_server on 127.0.0.1, started and ended by PID; `restart` keeps the port (and forgets
    every group and stream, as a restarted moto does)."""

    def __init__(self, tmp_path, port=None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(tmp_path / f"moto-{self.port}.log", "ab")
        self.proc = None
        self.start()

    def start(self, timeout=30.0):
        self.proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto_server exited with {self.proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise TimeoutError("moto_server did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def restart(self):
        self.kill()
        self.start()

    def signal(self, signum):
        os.kill(self.proc.pid, signum)

    def client(self, service="logs"):
        import boto3
        return boto3.client(service, endpoint_url=self.url, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def messages(self, group=GROUP, stream=STREAM):
        """Every event of the stream, oldest first ([] when the stream does not exist)."""
        logs = self.client()
        out, token = [], None
        for _ in range(10_000):
            kwargs = dict(logGroupName=group, logStreamName=stream, startFromHead=True)
            if token:
                kwargs["nextToken"] = token
            try:
                page = logs.get_log_events(**kwargs)
            except logs.exceptions.ResourceNotFoundException:
                return []
            out += [e["message"] for e in page["events"]]
            if not page["events"] or page["nextForwardToken"] == token:
                break
            token = page["nextForwardToken"]
        return out

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        self.log.close()
