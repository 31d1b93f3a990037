"""Issue 5: the CloudWatch sink against the strict stand-in, which enforces PutLogEvents' limits
and checks every request's SigV4 signature with botocore."""
import re

from conftest import run, summary_line
from cloudwatch_testlib import Strict, cloudwatch_env


def spill(strict, code, timeout=120, **extra):
    """Runs `python3 -c code` under spillway with the CloudWatch sink pointed at `strict`."""
    return run(["--", "python3", "-c", code], env=cloudwatch_env(strict.url, **extra), timeout=timeout)


def check_clean(strict, result):
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert strict.errors() == [], strict.errors()[:3]


def test_twenty_thousand_tiny_lines(tmp_path):
    with Strict(tmp_path) as strict:
        code = "import sys\nsys.stdout.write(''.join(f'{i}\\n' for i in range(20000)))"
        result = spill(strict, code)
        check_clean(strict, result)
        assert strict.messages() == [str(i) for i in range(20000)]
        puts = [e for e in strict.log() if e["action"] == "PutLogEvents" and e["status"] == 200]
        assert len(puts) >= 2 and all(e["events"] <= 10_000 for e in puts)
        assert summary_line(result.stderr)["delivered"] == 20000


def test_thirty_megabytes_of_1k_lines(tmp_path):
    count = 30 * 1024
    with Strict(tmp_path) as strict:
        code = ("import sys\n"
                f"for i in range({count}):\n"
                "    sys.stdout.write(('%08d' % i) + 'x' * 1015 + '\\n')\n")
        result = spill(strict, code, timeout=180)
        check_clean(strict, result)
        messages = strict.messages()
        assert len(messages) == count
        assert [int(m[:8]) for m in messages] == list(range(count))
        assert all(len(m) == 1023 for m in messages)
        # 1,048,576 / (1023 + 26) = 999.6: at least 31 requests, each within the byte limit (enforced).
        puts = [e for e in strict.log() if e["action"] == "PutLogEvents" and e["status"] == 200]
        assert len(puts) >= 31


def test_a_two_megabyte_line_becomes_consecutive_events(tmp_path):
    with Strict(tmp_path) as strict:
        code = ("import os\n"
                "line = ''.join(chr(0x61 + i % 26) for i in range(2 * 1024 * 1024 - 3)) + 'é'\n"
                "os.write(1, b'before\\n' + line.encode() + b'\\nafter\\n')\n")
        result = spill(strict, code)
        check_clean(strict, result)
        messages = strict.messages()
        assert messages[0] == "before" and messages[-1] == "after"
        pieces = messages[1:-1]
        assert len(pieces) == 3
        assert all(0 < len(p.encode()) <= 1_000_000 for p in pieces)
        expected = "".join(chr(0x61 + i % 26) for i in range(2 * 1024 * 1024 - 3)) + "é"
        assert "".join(pieces) == expected
        times = [e["timestamp"] for e in strict.events()[1:-1]]
        assert len(set(times)) == 1  # the pieces share the line's time


def test_invalid_utf8_becomes_replacement_characters(tmp_path):
    lines = [b"plain", b"bad \xff\xfe end", b"truncated \xe2\x82", b"overlong \xc0\xaf", b"surrogate \xed\xa0\x80",
             b"nul \x00 ok \xc3\xa9"]
    with Strict(tmp_path) as strict:
        payload = b"".join(line + b"\n" for line in lines)
        code = f"import os\nos.write(1, {payload!r})"
        result = spill(strict, code)
        check_clean(strict, result)
        assert strict.messages() == [l.decode("utf-8", "replace") for l in lines]


def test_invalid_bytes_are_sized_after_replacement(tmp_path):
    # 600,000 invalid bytes pass the framer's 1,000,000 cap but become 1,800,000 bytes of U+FFFD.
    with Strict(tmp_path) as strict:
        code = "import os\nos.write(1, b'\\xff' * 600000 + b'\\nnext\\n')"
        result = spill(strict, code)
        check_clean(strict, result)
        messages = strict.messages()
        assert messages[-1] == "next"
        assert "".join(messages[:-1]) == "\ufffd" * 600000
        assert all(len(m.encode()) <= 1_000_000 for m in messages)


def test_empty_lines_are_not_sent_and_counted(tmp_path):
    with Strict(tmp_path) as strict:
        code = "import os\nos.write(1, b'one\\n\\n\\ntwo\\n\\n')\nos.write(2, b'\\nthree\\n')"
        result = spill(strict, code)
        check_clean(strict, result)
        lines = [m for m in strict.messages() if not m.startswith("spillway: dropped")]
        assert sorted(lines) == ["one", "three", "two"]
        summary = summary_line(result.stderr)
        assert summary["delivered"] == 3 and summary["dropped"] == 4
        assert "empty line" in result.stderr.decode()


def test_retries_after_unavailable_and_throttling(tmp_path):
    with Strict(tmp_path, "--fail-puts", "2", "--throttle-puts", "1") as strict:
        result = spill(strict, "print('a'); print('b')")
        check_clean(strict, result)
        assert strict.messages() == ["a", "b"]
        outcomes = [e.get("error") for e in strict.log() if e["action"] == "PutLogEvents"]
        assert outcomes[:3] == ["ServiceUnavailableException", "ServiceUnavailableException", "ThrottlingException"]


def test_signature_with_odd_path_session_token_and_format(tmp_path):
    # botocore (in the stand-in) recomputes every signature: a path that needs double encoding, a
    # session token with runs of spaces and URL-unsafe characters, and the x-amzn-logs-format header.
    with Strict(tmp_path) as strict:
        result = run(["--", "python3", "-c", "print('{\"_aws\": {}}')"],
                     env=cloudwatch_env(strict.url + "/odd%20base/a+b/./c/", AWS_SESSION_TOKEN="tok  en/+= with~odd%chars",
                                        SPILLWAY_CLOUDWATCH_FORMAT="json/emf"), timeout=60)
        check_clean(strict, result)
        assert strict.messages() == ['{"_aws": {}}']
        log = strict.log()
        assert {e["path"] for e in log} == {"/odd%20base/a+b/./c/"}
        assert [e["format"] for e in log if e["action"] == "PutLogEvents"] == ["json/emf"] * 2  # not-found, then put
        assert all(e["format"] is None for e in log if e["action"] != "PutLogEvents")


def test_wrong_secret_is_retried_not_dropped(tmp_path):
    with Strict(tmp_path) as strict:
        env = cloudwatch_env(strict.url, secret="wrong", SPILLWAY_SHUTDOWN_TIMEOUT="1500ms")
        result = run(["--", "python3", "-c", "print('kept')"], env=env, timeout=60)
        assert result.returncode == 0
        assert strict.messages() == []
        assert {e["error"] for e in strict.log()} == {"InvalidSignatureException"}
        summary = summary_line(result.stderr)
        assert summary["delivered"] == 0 and summary["dropped"] == 1
        stderr = result.stderr.decode()
        assert "InvalidSignatureException" in stderr and "undelivered at the shutdown timeout" in stderr
        assert "wrong" not in re.sub(r"secret=wrong", "", stderr)  # the secret never appears


def test_stdout_and_stderr_in_one_stream_in_time_order(tmp_path):
    with Strict(tmp_path) as strict:
        code = ("import os, time\n"
                "for i in range(50):\n"
                "    os.write(1 + i % 2, b'line %d\\n' % i)\n"
                "    time.sleep(0.002)\n")
        result = spill(strict, code)
        check_clean(strict, result)
        events = strict.events()
        assert sorted(e["message"] for e in events) == sorted(f"line {i}" for i in range(50))
        times = [e["timestamp"] for e in events]
        assert times == sorted(times)
        assert {e["stream"] for e in events} == {"app/host-1"} and {e["group"] for e in events} == {"/spillway/test"}
