"""Issue 10: scripts/demo, the backpressure experiment, end to end with the built binary against
moto_server, in a shortened run (5 s cut). As root it cuts with iptables in a namespace of its
own; the SIGSTOP path (what a non-root user gets) is run too."""
import json
import os
import subprocess

import pytest

from conftest import ROOT, base_env, spillway_path

DEMO = os.path.join(ROOT, "scripts", "demo")


def run_demo(tmp_path, *args):
    out = tmp_path / "demo.json"
    result = subprocess.run([DEMO, "--binary", spillway_path(), "--cut-seconds", "5", "--settle-seconds", "3",
                             "--json", str(out), *args],
                            env=base_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(out.read_text()), result.stdout


def check_accounting(r):
    assert r["lines_logged"] > 0
    assert r["lines_delivered"] + r["lines_dropped_reported"] + r["lines_buffered"] == r["lines_logged"], r


def test_each_mode_behaves_as_promised(tmp_path):
    results, out = run_demo(tmp_path)
    for mode in ("blocking", "non-blocking", "filesystem"):
        check_accounting(results[mode])
    blocking, non_blocking, filesystem = results["blocking"], results["non-blocking"], results["filesystem"]
    assert blocking["lines_dropped_reported"] == 0 and blocking["lines_buffered"] == 0
    assert non_blocking["lines_dropped_reported"] > 0
    assert filesystem["lines_dropped_reported"] == 0 and filesystem["lines_buffered"] == 0
    # Backpressure reached the application only in blocking mode.
    assert non_blocking["requests_in_cut"] > 2 * blocking["requests_in_cut"], results
    assert filesystem["requests_in_cut"] > 2 * blocking["requests_in_cut"], results
    assert "non-blocking buffer full" in out and "blocking: the application" in out
    if os.geteuid() == 0:
        assert "iptables DROP rule" in out
        assert not [n for n in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
                    if n.startswith("spillway-demo-")]


def test_the_sigstop_cut_and_the_forward_sink(tmp_path):
    results, out = run_demo(tmp_path, "--cut", "sigstop", "--sink", "forward", "--mode", "filesystem")
    assert list(results) == ["filesystem"]
    check_accounting(results["filesystem"])
    assert results["filesystem"]["lines_dropped_reported"] == 0
    assert "SIGSTOP" in out


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a command as another user")
def test_missing_packages_are_named_in_one_line_for_a_non_root_user():
    result = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                             os.path.join(ROOT, "scripts", "install-deps"), "scripts/demo",
                             "no-such-package-spillway", "--", "no_such_module_spillway"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "scripts/demo: missing packages; install them, then run again: sudo apt-get install "
        "no-such-package-spillway && python3 -m pip install 'no_such_module_spillway'"]


def test_help_explains_the_options():
    result = subprocess.run([DEMO, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    for option in ("--mode", "--sink", "--cut-seconds", "--no-build", "--json", "--cut"):
        assert option in result.stdout
