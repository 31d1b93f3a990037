"""Issue 13: SPILLWAY_SECCOMP_PROFILE, a Docker-format seccomp profile applied to the workload with
real syscalls; spillway itself stays unconfined and its delivery unaffected."""
import json
import os

import pytest

from conftest import ROOT, base_env, console_records, run, summary_line
from peerlib import read_events
from test_forward import receiver

EPERM, ENOSYS = 1, 38


def profile(tmp_path, syscalls, default="SCMP_ACT_ALLOW", **extra):
    path = tmp_path / "profile.json"
    path.write_text(json.dumps({"defaultAction": default, "syscalls": syscalls, **extra}))
    return str(path)


def run_with(profile_path, code, **env):
    return run(["--", "python3", "-c", code], env=base_env(SPILLWAY_SECCOMP_PROFILE=profile_path, **env))


def logs(result):
    return [r["log"] for r in console_records(result.stdout)]


# Prints the errno of a call as "NAME=errno" (0 on success); `call` raises a libc call's errno.
PROBE = """
import ctypes, errno, os, sys
libc = ctypes.CDLL(None, use_errno=True)
def call(f, *args):
    if f(*args) == -1:
        raise OSError(ctypes.get_errno(), "call")
def probe(name, f):
    try:
        f()
        print(name + "=0", flush=True)
    except OSError as e:
        print(name + "=" + str(e.errno), flush=True)
"""


def test_errno_denies_mkdir_and_other_calls_work(spillway, tmp_path):
    p = profile(tmp_path, [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}])
    target = tmp_path / "made"
    code = PROBE + f"""
probe("mkdir", lambda: os.mkdir({str(target)!r}))
probe("write", lambda: open({str(tmp_path / 'file')!r}, "w").write("x"))
"""
    result = run_with(p, code)
    assert result.returncode == 0, result.stderr
    assert logs(result) == [f"mkdir={EPERM}", "write=0"]
    assert not target.exists() and (tmp_path / "file").read_text() == "x"
    assert summary_line(result.stderr)["delivered"] == 2


def test_errno_ret_is_honoured(spillway, tmp_path):
    p = profile(tmp_path, [{"names": ["chmod", "fchmodat"], "action": "SCMP_ACT_ERRNO", "errnoRet": ENOSYS}])
    (tmp_path / "f").write_text("")
    result = run_with(p, PROBE + f"probe('chmod', lambda: os.chmod({str(tmp_path / 'f')!r}, 0o600))")
    assert logs(result) == [f"chmod={ENOSYS}"]


def test_argument_filters(spillway, tmp_path):
    p = profile(tmp_path, [
        # personality is allowed only for arg0 == 0 (PER_LINUX).
        {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": EPERM,
         "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_NE"}]},
        # socket(AF_INET, ...) refused, other families allowed.
        {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 97,
         "args": [{"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}]},
    ])
    code = PROBE + """
import socket
def personality(value):
    if libc.personality(ctypes.c_ulong(value)) == -1:
        raise OSError(ctypes.get_errno(), "personality")
probe("personality0", lambda: personality(0))
probe("personality8", lambda: personality(8))
probe("inet", lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM).close())
probe("unix", lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).close())
"""
    result = run_with(p, code)
    assert logs(result) == ["personality0=0", f"personality8={EPERM}", "inet=97", "unix=0"], result.stderr


def test_kill_process_is_a_death_by_sigsys(spillway, tmp_path):
    p = profile(tmp_path, [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_KILL_PROCESS"}])
    result = run_with(p, f"import os; print('before', flush=True); os.mkdir({str(tmp_path / 'd')!r}); print('after')")
    assert result.returncode == 128 + 31
    assert logs(result) == ["before"]
    assert summary_line(result.stderr)["delivered"] == 1


def test_log_allows(spillway, tmp_path):
    p = profile(tmp_path, [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_LOG"}])
    result = run_with(p, PROBE + f"probe('mkdir', lambda: os.mkdir({str(tmp_path / 'd')!r}))")
    assert logs(result) == ["mkdir=0"] and (tmp_path / "d").is_dir()


def test_unknown_names_are_one_warning_and_the_rest_applies(spillway, tmp_path):
    p = profile(tmp_path, [
        {"names": ["mkdir", "no_such_call", "mkdirat"], "action": "SCMP_ACT_ERRNO"},
        {"names": ["another_fake", "no_such_call"], "action": "SCMP_ACT_KILL"},
    ])
    result = run_with(p, PROBE + f"probe('mkdir', lambda: os.mkdir({str(tmp_path / 'd')!r}))")
    assert result.returncode == 0
    assert logs(result) == [f"mkdir={EPERM}"]
    warnings = [l for l in result.stderr.decode().splitlines() if "does not know" in l]
    assert len(warnings) == 1, result.stderr
    assert "SPILLWAY_SECCOMP_PROFILE" in warnings[0] and "no_such_call, another_fake" in warnings[0]


def test_spillway_itself_is_not_confined(spillway, tmp_path):
    # The profile denies mkdir; spillway still creates its storage directory, the workload cannot.
    p = profile(tmp_path, [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}])
    storage = tmp_path / "new" / "storage"
    result = run_with(p, PROBE + f"probe('mkdir', lambda: os.mkdir({str(tmp_path / 'd')!r}))",
                      SPILLWAY_MODE="filesystem", SPILLWAY_STORAGE_PATH=str(storage))
    assert result.returncode == 0, result.stderr
    assert storage.is_dir()
    assert logs(result) == [f"mkdir={EPERM}"]


@pytest.mark.parametrize("document,needle", [
    ("{", "not valid JSON"),
    ('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ERRNO"},'
     ' {"names": ["b"], "action": "SCMP_ACT_ERRNO"}, {"names": ["c"], "action": "SCMP_ACT_ERRNO"},'
     ' {"names": ["d"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_SAME"}]}]}',
     "syscalls[3].args[0].op"),
    ('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_NOTIFY"}]}',
     "syscalls[0].action: SCMP_ACT_NOTIFY"),
    ('{"defaultAction": "SCMP_ACT_MAYBE"}', "defaultAction: unknown action"),
    ('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ERRNO", "errnoRet": "1"}]}',
     "syscalls[0].errnoRet"),
    ('{"syscalls": []}', "defaultAction: missing"),
])
def test_malformed_profiles_exit_125_naming_the_variable_and_path(spillway, tmp_path, document, needle):
    path = tmp_path / "bad.json"
    path.write_text(document)
    for args in (["--", "true"], ["--check-config", "--", "true"]):
        result = run(args, env=base_env(SPILLWAY_SECCOMP_PROFILE=str(path)))
        assert result.returncode == 125
        line = result.stderr.decode()
        assert len(line.strip().splitlines()) == 1, line
        assert "SPILLWAY_SECCOMP_PROFILE" in line and str(path) in line and needle in line, line


def test_missing_profile_file_is_125(spillway, tmp_path):
    result = run(["--", "true"], env=base_env(SPILLWAY_SECCOMP_PROFILE=str(tmp_path / "none.json")))
    assert result.returncode == 125
    line = result.stderr.decode()
    assert "SPILLWAY_SECCOMP_PROFILE" in line and "none.json" in line and "No such file" in line


def test_check_config_shows_the_rule_count_and_default_action(spillway, tmp_path):
    p = profile(tmp_path, [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"},
                           {"names": ["chmod"], "action": "SCMP_ACT_ERRNO",
                            "args": [{"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}]}])
    result = run(["--check-config", "--", "true"], env=base_env(SPILLWAY_SECCOMP_PROFILE=p))
    assert result.returncode == 0, result.stderr
    assert "seccomp: 2 rules, default action SCMP_ACT_ALLOW" in result.stdout.decode()


# The default profile.

def test_default_profile_is_the_shipped_file(spillway):
    result = run(["--check-config", "--", "true"], env=base_env(SPILLWAY_SECCOMP_PROFILE="default"))
    shipped = run(["--check-config", "--", "true"],
                  env=base_env(SPILLWAY_SECCOMP_PROFILE=os.path.join(ROOT, "shim-configs/seccomp/default.json")))
    assert result.returncode == 0 and shipped.returncode == 0
    line = [l for l in result.stdout.decode().splitlines() if l.startswith("seccomp: ")]
    assert line and line == [l for l in shipped.stdout.decode().splitlines() if l.startswith("seccomp: ")]
    assert b"does not know" not in result.stderr


def test_default_profile_runs_ordinary_workloads(spillway):
    code = """
import http.server, threading, urllib.request
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"pong")
    def log_message(self, *a): pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
threading.Thread(target=server.serve_forever, daemon=True).start()
results = []
workers = [threading.Thread(target=lambda: results.append(1)) for _ in range(16)]
[w.start() for w in workers]; [w.join() for w in workers]
print("threads", len(results), flush=True)
print("http", urllib.request.urlopen("http://127.0.0.1:%d/" % server.server_port).read().decode(), flush=True)
server.shutdown()
"""
    result = run_with("default", code)
    assert result.returncode == 0, result.stderr
    assert logs(result) == ["threads 16", "http pong"]
    sh = run(["--", "sh", "-c", "echo one; ls / >/dev/null && echo two"], env=base_env(SPILLWAY_SECCOMP_PROFILE="default"))
    assert sh.returncode == 0 and logs(sh) == ["one", "two"]


def test_default_profile_refuses_namespaces_mounts_and_modules(spillway, tmp_path):
    code = PROBE + f"""
probe("mount", lambda: call(libc.mount, b"none", {str(tmp_path).encode()!r}, b"tmpfs", 0, None))
probe("unshare_user", lambda: call(libc.unshare, 0x10000000))
probe("clone3", lambda: call(libc.syscall, 435, None, 0))
if os.uname().machine == "x86_64":
    probe("init_module", lambda: call(libc.syscall, 175, None, 0, b""))
else:
    print("init_module=1", flush=True)
# Even a read-only adjtimex, and reaching into another process by pidfd (without the filter:
# 0 and EBADF).
probe("adjtimex", lambda: call(libc.adjtimex, ctypes.create_string_buffer(512)))
probe("pidfd_getfd", lambda: call(libc.syscall, 438, -1, 0, 0))
probe("process_madvise", lambda: call(libc.syscall, 440, -1, None, 0, 0, 0))
probe("getpid", lambda: call(libc.getpid))
"""
    result = run_with("default", code)
    assert logs(result) == [f"mount={EPERM}", f"unshare_user={EPERM}", f"clone3={ENOSYS}", f"init_module={EPERM}",
                            f"adjtimex={EPERM}", f"pidfd_getfd={EPERM}", f"process_madvise={EPERM}",
                            "getpid=0"], result.stderr
    unshare = run(["--", "unshare", "-U", "true"], env=base_env(SPILLWAY_SECCOMP_PROFILE="default"))
    assert unshare.returncode != 0
    assert any("Operation not permitted" in l for l in logs(unshare)), logs(unshare)
    # As root without the profile, the same call succeeds: it is the filter that refuses it.
    free = run(["--", "unshare", "-U", "true"])
    assert free.returncode == 0, free.stderr


CONTAINERS_COMMON = "/usr/share/containers/seccomp.json"


@pytest.mark.skipif(not os.path.exists(CONTAINERS_COMMON), reason="golang-github-containers-common not installed")
def test_the_containers_common_profile_of_podman_and_cri_o_works_as_it_is(spillway, tmp_path):
    # It names errnos beside their numbers (defaultErrno, errno) and denies by default: a Python
    # workload with threads and files runs, and a call it denies outright, migrate_pages
    # (without the filter: ESRCH), is refused.
    code = PROBE + f"""
import threading
t = threading.Thread(target=lambda: None); t.start(); t.join()
probe("mkdir", lambda: os.mkdir({str(tmp_path / "d").encode()!r}))
probe("migrate_pages", lambda: call(libc.syscall, 256, -1, 0, None, None) if os.uname().machine == "x86_64" else 0)
"""
    result = run_with(CONTAINERS_COMMON, code)
    assert result.returncode == 0, result.stderr
    assert logs(result) == ["mkdir=0", f"migrate_pages={EPERM}"], result.stderr


def test_a_workload_denied_the_network_still_has_its_lines_delivered_over_it(spillway, tmp_path):
    # The profile binds the workload only: spillway, unconfined by it, connects and delivers.
    denied = profile(tmp_path, [{"names": ["socket", "connect"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}])
    code = PROBE + "import socket\nprobe('socket', lambda: socket.socket())\n"
    peer, events = receiver(tmp_path)
    with peer:
        result = run(["--", "python3", "-c", code],
                     env=base_env(SPILLWAY_SECCOMP_PROFILE=denied, SPILLWAY_SINK="forward",
                                  SPILLWAY_FORWARD_ADDRESS=f"tcp://127.0.0.1:{peer.port}"))
        assert result.returncode == 0, result.stderr
        got = read_events(events)
    assert [e["record"]["log"] for e in got] == [f"socket={EPERM}".encode()]
