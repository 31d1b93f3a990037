"""Issue 2: spillway supervises the workload like tini — exit codes, signals, reaping, fds, env."""
import os
import shutil
import signal
import subprocess
import time

import pytest

from conftest import base_env, console_records, run, spillway_path, summary_line

IS_ROOT = os.geteuid() == 0


@pytest.mark.parametrize("code", [0, 1, 2, 42, 125, 126, 127, 128, 200, 255])
def test_exit_code_passes_through(spillway, code):
    result = run(["--", "sh", "-c", f"exit {code}"])
    assert result.returncode == code
    assert summary_line(result.stderr)["code"] == code


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL, signal.SIGSEGV])
def test_death_by_signal_is_128_plus_n(spillway, sig):
    result = run(["--", "sh", "-c", f"kill -{int(sig)} $$"])
    assert result.returncode == 128 + int(sig)


def test_command_not_found_is_127(spillway):
    result = run(["--", "no-such-command-xyz"])
    assert result.returncode == 127
    assert b"spillway:" in result.stderr and b"no-such-command-xyz" in result.stderr


def test_command_not_executable_is_126(spillway, tmp_path):
    script = tmp_path / "not-exec.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    assert run(["--", str(script)]).returncode == 126
    assert run(["--", str(tmp_path)]).returncode == 126  # a directory


def test_dash_dash_is_optional(spillway):
    result = run(["echo", "hi"])
    assert result.returncode == 0
    assert [r["log"] for r in console_records(result.stdout)] == ["hi"]


def test_no_command_is_a_usage_error(spillway):
    result = run([])
    assert result.returncode == 125
    assert b"usage:" in result.stderr


@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 11), (signal.SIGINT, 12), (signal.SIGHUP, 13), (signal.SIGUSR1, 14)])
def test_signals_are_forwarded(spillway, tmp_path, sig, code):
    ready = tmp_path / "ready"
    script = f"trap 'exit {code}' {sig.name[3:]}; touch {ready}; while :; do sleep 0.05; done"
    proc = subprocess.Popen([spillway_path(), "--", "sh", "-c", script], env=base_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: ready.exists())
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == code, err
    finally:
        proc.kill()
        proc.wait()


def test_signal_group_reaches_every_process_in_the_group(spillway, tmp_path):
    marker = tmp_path / "child-got-term"
    ready = tmp_path / "ready"
    # The grandchild traps TERM itself; only a group-wide signal reaches it.
    script = (f"sh -c 'trap \"touch {marker}; exit 0\" TERM; while :; do sleep 0.05; done' & "
              f"trap 'wait; exit 7' TERM; touch {ready}; while :; do sleep 0.05; done")
    proc = subprocess.Popen([spillway_path(), "--", "sh", "-c", script],
                            env=base_env(SPILLWAY_SIGNAL_GROUP="true"), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: ready.exists())
        time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)
        assert proc.returncode == 7
        assert marker.exists()
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.skipif(not IS_ROOT or not shutil.which("unshare"), reason="needs root and unshare")
def test_reaps_orphans_as_pid_1(spillway):
    # Orphans re-parent to spillway (PID 1 of the namespace); after they exit, none is a zombie.
    script = ("for i in 1 2 3 4 5; do (sleep 0.2 &) ; done; sleep 1; "
              "ps -eo pid=,stat=,comm= | awk '$2 ~ /^Z/ {print \"ZOMBIE\", $0}'; echo done")
    result = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", spillway_path(), "--", "sh", "-c", script],
                            env=base_env(), capture_output=True, timeout=30)
    assert result.returncode == 0, result.stderr
    logs = [r["log"] for r in console_records(result.stdout)]
    assert logs[-1] == "done"
    assert not [l for l in logs if l.startswith("ZOMBIE")]


def test_subreaper_collects_orphans(spillway):
    script = "(sleep 0.3 &); sleep 0.1; echo ppid-check; sleep 0.5"
    result = run(["--", "sh", "-c", script], env=base_env(SPILLWAY_SUBREAPER="true"))
    assert result.returncode == 0


def test_workload_sees_only_fds_0_1_2(spillway):
    # 3 is the directory fd of ls itself.
    result = run(["--", "sh", "-c", "ls /proc/self/fd"], pass_fds=(), close_fds=True)
    logs = [r["log"] for r in console_records(result.stdout)]
    assert sorted(int(x) for x in logs) == [0, 1, 2, 3]


def test_workload_fds_even_when_spillway_inherits_more(spillway):
    r, w = os.pipe()
    try:
        result = run(["--", "sh", "-c", "ls /proc/self/fd"], pass_fds=(r, w))
    finally:
        os.close(r)
        os.close(w)
    assert sorted(int(r["log"]) for r in console_records(result.stdout)) == [0, 1, 2, 3]


def test_systemd_listen_fds_pass_through(spillway):
    r, w = os.pipe()
    # Put the pipe on fd 3 and 4 in spillway, and tell it these are its LISTEN_FDS.
    script = 'echo "pid=$$ listen_pid=$LISTEN_PID fds=$LISTEN_FDS"; ls /proc/self/fd'
    wrapper = f'exec 3<&{r} 4>&{w}; LISTEN_PID=$$ LISTEN_FDS=2 exec {spillway_path()} -- sh -c \'{script}\''
    try:
        result = subprocess.run(["bash", "-c", wrapper], env=base_env(), capture_output=True, timeout=30, pass_fds=(r, w))
    finally:
        os.close(r)
        os.close(w)
    logs = [rec["log"] for rec in console_records(result.stdout)]
    first = dict(kv.split("=") for kv in logs[0].split())
    assert first["pid"] == first["listen_pid"]
    assert first["fds"] == "2"
    assert sorted(int(x) for x in logs[1:]) == [0, 1, 2, 3, 4, 5]


def test_spillway_variables_do_not_reach_the_workload(spillway):
    env = base_env(SPILLWAY_NAME="secretive", SPILLWAY_LABELS="a=b", OTHER_VAR="kept")
    result = run(["--", "sh", "-c", "env"], env=env)
    logs = [r["log"] for r in console_records(result.stdout)]
    assert "OTHER_VAR=kept" in logs
    assert not [l for l in logs if l.startswith("SPILLWAY_")]


def test_stdin_is_inherited(spillway):
    result = run(["--", "sh", "-c", "read line; echo got:$line"], input=b"hello\n")
    assert [r["log"] for r in console_records(result.stdout)] == ["got:hello"]


def test_closed_standard_descriptors_are_tolerated(spillway):
    result = subprocess.run(f"exec {spillway_path()} -- sh -c 'echo ok' <&-", shell=True,
                            env=base_env(), capture_output=True, timeout=30)
    assert result.returncode == 0
    assert [r["log"] for r in console_records(result.stdout)] == ["ok"]


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")
