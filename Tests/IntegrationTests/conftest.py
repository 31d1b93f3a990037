"""Fixtures for the integration tests: the built spillway binary and how to run it."""
import atexit
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "peers"))


def spillway_path():
    path = os.environ.get("SPILLWAY_BIN") or os.path.join(ROOT, ".build", "debug", "spillway")
    if os.environ.get("SPILLWAY_TEST_SECCOMP_SELF") == "1":
        return self_confined_wrapper(path)
    return path


_wrappers = {}


def self_confined_wrapper(path):
    """The suite's second pass (scripts/test): every spillway a test starts confines itself
    (SPILLWAY_SECCOMP_SELF=true unless the test sets it), through a wrapper that execs `path`."""
    if path not in _wrappers:
        directory = tempfile.mkdtemp(prefix="spillway-self-")
        os.chmod(directory, 0o755)
        wrapper = os.path.join(directory, "spillway")
        with open(wrapper, "w") as f:
            f.write('#!/bin/sh\n: "${SPILLWAY_SECCOMP_SELF:=true}"\nexport SPILLWAY_SECCOMP_SELF\n'
                    f'exec {shlex.quote(os.path.abspath(path))} "$@"\n')
        os.chmod(wrapper, 0o755)
        atexit.register(shutil.rmtree, directory, True)
        _wrappers[path] = wrapper
    return _wrappers[path]


def base_env(**overrides):
    """The test's environment without any SPILLWAY_* variable, plus `overrides`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPILLWAY_")}
    env.update({k: str(v) for k, v in overrides.items()})
    return env


def run(args, env=None, timeout=60, input=None, **kwargs):
    """Runs `spillway ARGS`, returns CompletedProcess with bytes stdout/stderr."""
    return subprocess.run([spillway_path(), *args], env=env if env is not None else base_env(),
                          capture_output=True, timeout=timeout, input=input, **kwargs)


def console_records(stdout):
    """Parses the console sink's JSON lines."""
    return [json.loads(line) for line in stdout.decode().splitlines() if line.strip()]


def summary_line(stderr):
    lines = [l for l in stderr.decode(errors="replace").splitlines() if l.startswith("spillway: exit code=")]
    assert lines, f"no summary line in stderr: {stderr!r}"
    fields = {}
    for part in lines[-1].split("(")[0].split()[1:]:
        key, eq, value = part.partition("=")
        if eq:
            fields[key] = int(value)
    return fields


@pytest.fixture(scope="session")
def spillway():
    path = spillway_path()
    assert os.access(path, os.X_OK), f"build spillway first: {path}"
    return path


@pytest.fixture(autouse=True)
def end_writers():
    """Ends any spillway a test started with writerlib.start_writer and left running."""
    yield
    import writerlib
    writerlib.end_leftovers()


NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def as_nobody(args):
    """`args` run as an unprivileged user (root-only options fail there, as in the field), or
    pytest.skip when that cannot be arranged (not root, or the binary is not readable by others)."""
    if os.geteuid() != 0:
        pytest.skip("running as another user needs root")
    probe = subprocess.run([*NOBODY, spillway_path(), "--version"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"the built binary cannot be run by an unprivileged user: {probe.stderr.decode().strip()}")
    return [*NOBODY, spillway_path(), *args]
