"""Issue 2: framing into records and the console sink, end to end through the binary."""
import subprocess
import time
from datetime import datetime

import pytest

from conftest import base_env, console_records, run, spillway_path, summary_line

PY = "python3"


def py(code):
    return ["--", PY, "-c", code]


def test_records_carry_time_source_and_name(spillway):
    before = time.time()
    result = run(py("import sys; print('out'); sys.stdout.flush(); print('err', file=sys.stderr)"))
    records = console_records(result.stdout)
    assert sorted((r["source"], r["log"]) for r in records) == [("stderr", "err"), ("stdout", "out")]
    for r in records:
        assert r["container_name"] == "python3"
        assert r["time"].endswith("Z") and len(r["time"]) == len("2026-01-01T10:00:00.123456789Z")
        at = datetime.fromisoformat(r["time"][:26] + "+00:00").timestamp()  # to microseconds
        assert before - 0.001 <= at <= time.time(), (before, r["time"])
    assert summary_line(result.stderr)["delivered"] == 2


def test_interleaved_streams_keep_their_order_per_stream(spillway):
    code = ("import os\n"
            "for i in range(2000):\n"
            "    os.write(1 if i % 2 else 2, b'%d\\n' % i)\n")
    records = console_records(run(py(code)).stdout)
    out = [int(r["log"]) for r in records if r["source"] == "stdout"]
    err = [int(r["log"]) for r in records if r["source"] == "stderr"]
    assert out == list(range(1, 2000, 2))
    assert err == list(range(0, 2000, 2))


@pytest.mark.parametrize("size", [100_000, 10 * 1024 * 1024])
def test_long_line_without_newline_becomes_partials(spillway, size):
    code = f"import sys; sys.stdout.write('x' * {size})"
    result = run(py(code), env=base_env())
    records = console_records(result.stdout)
    limit = 16 * 1024
    assert sum(len(r["log"]) for r in records) == size
    assert len(records) == -(-size // limit)
    assert {r["partial_id"] for r in records} and len({r["partial_id"] for r in records}) == 1
    assert [r["partial_ordinal"] for r in records] == list(range(1, len(records) + 1))
    assert [r["partial_last"] for r in records] == [False] * (len(records) - 1) + [True]
    assert len({r["time"] for r in records}) == 1
    assert all(len(r["log"]) == limit for r in records[:-1])


def test_max_line_size_is_configurable(spillway):
    result = run(py("print('a' * 10)"), env=base_env(SPILLWAY_MAX_LINE_SIZE="4"))
    assert [r["log"] for r in console_records(result.stdout)] == ["aaaa", "aaaa", "aa"]


def test_nul_invalid_utf8_and_cr_pass_through(spillway):
    code = "import os; os.write(1, b'a\\x00b\\r\\n\\xff\\xfe ok \\xc3\\xa9\\n')"
    records = console_records(run(py(code)).stdout)
    assert [r["log"] for r in records] == ["a\x00b\r", "\ufffd\ufffd ok é"]


def test_unterminated_final_line_is_a_complete_record(spillway):
    records = console_records(run(py("import sys; sys.stdout.write('last words')")).stdout)
    assert [(r["log"], "partial_message" in r) for r in records] == [("last words", False)]


def test_hundred_thousand_tiny_writes(spillway):
    code = ("import os\n"
            "for i in range(100000):\n"
            "    os.write(1, b'%d\\n' % i)\n")
    result = run(py(code), timeout=120)
    logs = [r["log"] for r in console_records(result.stdout)]
    assert logs == [str(i) for i in range(100000)]
    assert summary_line(result.stderr)["delivered"] == 100000


def test_workload_closing_stdout_keeps_stderr_flowing(spillway):
    code = ("import os, time\n"
            "os.write(1, b'before\\n'); os.close(1)\n"
            "for i in range(3):\n"
            "    os.write(2, b'err %d\\n' % i); time.sleep(0.05)\n")
    records = console_records(run(py(code)).stdout)
    assert [(r["source"], r["log"]) for r in records] == [
        ("stdout", "before"), ("stderr", "err 0"), ("stderr", "err 1"), ("stderr", "err 2")]


def test_grandchild_holding_the_pipe_is_cut_off_at_the_shutdown_timeout(spillway):
    # The grandchild keeps stdout open for 30 s; spillway must leave after ~1 s, not 30.
    script = "echo parent; (sleep 30; echo late) & exit 3"
    start = time.monotonic()
    proc = subprocess.Popen([spillway_path(), "--", "sh", "-c", script],
                            env=base_env(SPILLWAY_SHUTDOWN_TIMEOUT="1s"), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
        proc.wait()
        subprocess.run(["pkill", "-f", "sleep 30"], check=False)
    elapsed = time.monotonic() - start
    assert proc.returncode == 3
    assert 0.9 <= elapsed < 5, elapsed
    assert [r["log"] for r in console_records(out)] == ["parent"]


def test_passthrough_copies_raw_output(spillway):
    env = base_env(SPILLWAY_PASSTHROUGH="true", SPILLWAY_SINK="forward", SPILLWAY_FORWARD_ADDRESS="tcp://127.0.0.1:9",
                   SPILLWAY_SHUTDOWN_TIMEOUT="100ms")
    result = run(py("import sys; print('to out'); print('to err', file=sys.stderr)"), env=env)
    assert result.stdout == b"to out\n"
    assert b"to err\n" in result.stderr


def test_stdout_going_away_counts_drops_and_keeps_reading(spillway):
    code = ("import os\n"
            "for i in range(20000):\n"
            "    os.write(1, b'line %d\\n' % i)\n"
            "os.write(2, b'finished\\n')\n")
    proc = subprocess.run(f"{spillway_path()} -- {PY} -c \"$CODE\" | head -n 1", shell=True,
                          env=base_env(CODE=code), capture_output=True, timeout=60)
    assert proc.returncode == 0
    assert len(proc.stdout.splitlines()) == 1
    fields = summary_line(proc.stderr)
    assert fields["delivered"] + fields["dropped"] == 20001
    assert fields["dropped"] > 0


# --- configuration errors, --check-config, --help, --version ---------------------------

@pytest.mark.parametrize("var,value,needle", [
    ("SPILLWAY_MAX_BUFFER_SIZE", "12q", "SPILLWAY_MAX_BUFFER_SIZE"),
    ("SPILLWAY_FLUSH_INTERVAL", "5", "SPILLWAY_FLUSH_INTERVAL"),
    ("SPILLWAY_PASSTHROUGH", "maybe", "SPILLWAY_PASSTHROUGH"),
    ("SPILLWAY_FORWARD_ADDRESS", "http://x:1", "SPILLWAY_FORWARD_ADDRESS"),
    ("SPILLWAY_MODE", "fast", "SPILLWAY_MODE"),
    ("SPILLWAY_MAX_BUFER_SIZE", "1m", "did you mean"),
    ("SPILLWAY_SECCOMP_PROFILE", "/etc/profile.json", "SPILLWAY_SECCOMP_PROFILE"),
])
def test_bad_variables_exit_125_naming_them(spillway, var, value, needle):
    result = run(["--", "true"], env=base_env(**{var: value}))
    assert result.returncode == 125
    line = result.stderr.decode()
    assert needle in line and var in line
    assert len(line.strip().splitlines()) == 1


def test_missing_required_value_is_125(spillway):
    result = run(["--", "true"], env=base_env(SPILLWAY_SINK="cloudwatch"))
    assert result.returncode == 125
    assert b"SPILLWAY_" in result.stderr


def test_bad_variable_never_starts_the_workload(spillway, tmp_path):
    marker = tmp_path / "ran"
    result = run(["--", "touch", str(marker)], env=base_env(SPILLWAY_MODE="bogus"))
    assert result.returncode == 125
    assert not marker.exists()


def test_check_config_prints_effective_configuration_with_secrets_redacted(spillway):
    env = base_env(SPILLWAY_SINK="forward", SPILLWAY_FORWARD_SHARED_KEY="hunter2-secret")
    result = run(["--check-config", "--", "myapp"], env=env)
    assert result.returncode == 0
    text = result.stdout.decode()
    assert "hunter2-secret" not in text and "hunter2-secret" not in result.stderr.decode()
    assert "SPILLWAY_MAX_BUFFER_SIZE" in text and "SPILLWAY_FORWARD_ADDRESS" in text
    assert run(["--check-config", "--", "myapp"], env=base_env(SPILLWAY_MODE="x")).returncode == 125


def test_help_lists_every_variable(spillway):
    result = run(["--help"])
    assert result.returncode == 0
    text = result.stdout.decode()
    for var in ["SPILLWAY_SINK", "SPILLWAY_MODE", "SPILLWAY_MAX_BUFFER_SIZE", "SPILLWAY_FORWARD_ADDRESS",
                "SPILLWAY_CLOUDWATCH_GROUP", "SPILLWAY_STORAGE_PATH", "SPILLWAY_SECCOMP_PROFILE"]:
        assert var in text


def test_version(spillway):
    result = run(["--version"])
    assert result.returncode == 0
    assert result.stdout.startswith(b"spillway ")
