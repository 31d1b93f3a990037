"""Issue 13: SPILLWAY_SECCOMP_SELF=true, spillway confined on every thread while the workload it
spawned before stays unconfined. That the allow-list suffices is proven by the suite's second pass
(scripts/test runs every integration test again with the variable set)."""
import os
import re

from conftest import base_env, console_records, run, summary_line

# The workload reports, once spillway has loaded its filter, the Seccomp and NoNewPrivs fields of
# every thread of its parent (spillway) and its own.
REPORT = r"""
import os, time
def fields(path):
    text = open(path).read()
    return {k: text.split(k + ":")[1].split()[0] for k in ("Seccomp", "NoNewPrivs")}
parent = os.getppid()
deadline = time.time() + 10
while fields(f"/proc/{parent}/status")["Seccomp"] != "2" and time.time() < deadline:
    time.sleep(0.02)
for tid in sorted(os.listdir(f"/proc/{parent}/task")):
    f = fields(f"/proc/{parent}/task/{tid}/status")
    print("spillway-thread", f["Seccomp"], f["NoNewPrivs"], flush=True)
f = fields("/proc/self/status")
print("workload", f["Seccomp"], f["NoNewPrivs"], flush=True)
"""


def self_env(**extra):
    return base_env(SPILLWAY_SECCOMP_SELF="true", **extra)


def test_every_spillway_thread_is_confined_and_the_workload_is_not(spillway):
    result = run(["--", "python3", "-c", REPORT], env=self_env())
    assert result.returncode == 0, result.stderr
    lines = [r["log"] for r in console_records(result.stdout)]
    threads = [l for l in lines if l.startswith("spillway-thread")]
    assert len(threads) >= 2, lines  # the supervisor and the poll thread at least
    assert set(threads) == {"spillway-thread 2 1"}, lines
    assert lines[-1] == "workload 0 0"
    stats = summary_line(result.stderr)
    assert stats["delivered"] == len(lines) and stats["dropped"] == 0


def test_without_the_variable_spillway_is_unconfined(spillway):
    code = "import os; print(open(f'/proc/{os.getppid()}/status').read().split('Seccomp:')[1].split()[0])"
    result = run(["--", "python3", "-c", code], env=base_env(SPILLWAY_SECCOMP_SELF="false"))
    assert [r["log"] for r in console_records(result.stdout)] == ["0"]


def test_with_a_workload_profile_each_gets_its_own_filter(spillway, tmp_path):
    code = REPORT + "\ntry:\n    os.mkdir(%r)\nexcept OSError as e:\n    print('mkdir', e.errno)\n" % str(tmp_path / "d")
    profile = tmp_path / "p.json"
    profile.write_text('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": '
                       '[{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}')
    result = run(["--", "python3", "-c", code], env=self_env(SPILLWAY_SECCOMP_PROFILE=str(profile)))
    assert result.returncode == 0, result.stderr
    lines = [r["log"] for r in console_records(result.stdout)]
    assert "workload 2 1" in lines and lines[-1] == "mkdir 13"
    assert {l for l in lines if l.startswith("spillway-thread")} == {"spillway-thread 2 1"}


def test_filesystem_mode_and_drain_work_confined(spillway, tmp_path):
    storage = tmp_path / "storage"
    env = self_env(SPILLWAY_MODE="filesystem", SPILLWAY_STORAGE_PATH=str(storage),
                   SPILLWAY_SINK="forward", SPILLWAY_FORWARD_ADDRESS="tcp://127.0.0.1:1",
                   SPILLWAY_SHUTDOWN_TIMEOUT="1s")
    result = run(["--", "sh", "-c", "for i in 1 2 3; do echo line$i; done"], env=env)
    assert result.returncode == 0, result.stderr
    assert summary_line(result.stderr)["buffered"] == 3
    drained = run(["--drain"], env=self_env(SPILLWAY_MODE="filesystem", SPILLWAY_STORAGE_PATH=str(storage)))
    assert drained.returncode == 0, drained.stderr
    assert [r["log"] for r in console_records(drained.stdout)] == ["line1", "line2", "line3"]
    assert summary_line(drained.stderr)["delivered"] == 3


def test_check_config_shows_the_filter(spillway):
    result = run(["--check-config", "--", "true"], env=self_env())
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode()
    assert "SPILLWAY_SECCOMP_SELF=true" in out
    match = re.search(r"seccomp of spillway itself: (\d+) rules, default action SCMP_ACT_ERRNO\(1\)", out)
    assert match and int(match.group(1)) > 100, out


def test_a_bad_value_is_125_naming_the_variable(spillway):
    result = run(["--", "true"], env=base_env(SPILLWAY_SECCOMP_SELF="yes please"))
    assert result.returncode == 125
    assert "SPILLWAY_SECCOMP_SELF" in result.stderr.decode()
