"""Every ready-made env file in shim-configs/ is a valid configuration for the built binary.

`--check-config` runs every check a start runs (TLS files, credentials, the storage directory and
its lock), so each file is checked on a stand-in host: its /etc/spillway/ files are test
certificates, its storage directories temporary ones, and AWS credentials are in the environment."""
import glob
import json
import os
import re
import shutil
import subprocess
import time

import pytest

from conftest import ROOT, base_env, run


@pytest.fixture
def host(tmp_path):
    """Rewrites a configuration for the stand-in host: paths and credentials."""
    certs = tmp_path / "etc-spillway"
    subprocess.run(["bash", os.path.join(ROOT, "Tests", "IntegrationTests", "peers", "make_certs.sh"), str(certs)],
                   check=True, capture_output=True)
    os.rename(certs / "client.key", certs / "client.key.pem")
    files = {"ca.pem": "ca.pem", "client.pem": "client.pem", "client.key": "client.key.pem"}

    def rewrite(env):
        out = {}
        for key, value in env.items():
            if value.startswith("/etc/spillway/"):
                value = str(certs / files[os.path.basename(value)])
            if key == "SPILLWAY_STORAGE_PATH" or key == "STATE_DIRECTORY":
                value = str(tmp_path / "storage" / key)
            out[key] = value
        out.setdefault("SPILLWAY_STORAGE_PATH", str(tmp_path / "storage" / "default"))
        if "STATE_DIRECTORY" in out:
            del out["SPILLWAY_STORAGE_PATH"]
        out.update(AWS_ACCESS_KEY_ID="AKIDEXAMPLE", AWS_SECRET_ACCESS_KEY="example", AWS_EC2_METADATA_DISABLED="true",
                   HOME="/nonexistent")
        return out
    return rewrite


def env_file(path):
    values = {}
    for line in open(path):
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key] = value
    return values


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(ROOT, "shim-configs", "*.env"))),
                         ids=os.path.basename)
def test_env_file_is_accepted(spillway, path, host):
    result = run(["--check-config", "--", "app"], env=base_env(**host(env_file(path))))
    assert result.returncode == 0, result.stderr.decode()


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(ROOT, "shim-configs", "ecs-task-definition*.json"))),
                         ids=os.path.basename)
def test_ecs_task_definition_environment_is_accepted(spillway, path, host):
    task = json.load(open(path))
    (app,) = [c for c in task["containerDefinitions"] if c["name"] == "app"]
    env = {e["name"]: e["value"] for e in app["environment"]}
    env["AWS_REGION"] = "us-east-1"  # ECS sets it in every container of a Fargate task
    if "awslogs-stream-prefix" in env.get("SPILLWAY_LOG_CONFIGURATION", ""):
        env["SPILLWAY_CONTAINER_ID"] = "task-id"  # on ECS the task metadata endpoint gives it
    result = run(["--check-config", "--", *app["command"]], env=base_env(**host(env)))
    assert result.returncode == 0, result.stderr.decode()


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(ROOT, "shim-configs", "systemd", "*.service"))),
                         ids=os.path.basename)
def test_systemd_unit_environment_is_accepted(spillway, path, tmp_path, host):
    env = {}
    for line in open(path):
        line = line.strip()
        if line.startswith("EnvironmentFile="):
            name = os.path.basename(line.partition("=")[2])
            env.update(env_file(os.path.join(ROOT, "shim-configs", name)))
        elif line.startswith("Environment="):
            key, _, value = line.partition("=")[2].partition("=")
            env[key] = value
        elif line.startswith("StateDirectory="):
            env["STATE_DIRECTORY"] = str(tmp_path / line.partition("=")[2])
    result = run(["--check-config", "--", "app"], env=base_env(**host(env)))
    assert result.returncode == 0, result.stderr.decode()


def test_check_config_runs_the_checks_a_start_runs(spillway, tmp_path):
    """A TLS file that cannot be loaded, or a storage directory locked by a running spillway, fail
    --check-config exactly as they fail a start: 125 naming the variable."""
    tls = base_env(SPILLWAY_SINK="forward", SPILLWAY_FORWARD_ADDRESS="tls://127.0.0.1:1",
                   SPILLWAY_FORWARD_TLS_CA=str(tmp_path / "missing.pem"))
    for args in (["--check-config", "--", "app"], ["--", "true"]):
        result = run(args, env=tls)
        assert result.returncode == 125
        assert result.stderr.decode().strip() == (
            f"spillway: SPILLWAY_FORWARD_TLS_CA: cannot load the TLS CA file {tmp_path / 'missing.pem'}: "
            "missing, unreadable, or not a PEM certificate")
    storage = base_env(SPILLWAY_MODE="filesystem", SPILLWAY_STORAGE_PATH=str(tmp_path / "store"))
    holder = subprocess.Popen([spillway, "--", "sleep", "30"], env=storage, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while not (tmp_path / "store" / "lock").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        result = run(["--check-config", "--", "app"], env=storage)
        assert result.returncode == 125
        assert result.stderr.decode().startswith("spillway: SPILLWAY_STORAGE_PATH: ")
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(ROOT, "shim-configs", "systemd", "*"))),
                         ids=os.path.basename)
def test_systemd_unit_passes_systemd_analyze_verify(spillway, path, tmp_path):
    """verify checks that ExecStart= binaries exist: the copy names the built spillway and
    /bin/true for the example application; every other line is the shipped unit's."""
    for unit in glob.glob(os.path.join(ROOT, "shim-configs", "systemd", "*")):
        text = open(unit).read().replace("/usr/local/bin/spillway", spillway)
        (tmp_path / os.path.basename(unit)).write_text(text.replace("/usr/local/bin/example-app", "/bin/true"))
    result = subprocess.run(["systemd-analyze", "verify", str(tmp_path / os.path.basename(path))],
                            capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_a_systemd_unit_serves_the_metrics_on_a_socket_in_its_runtime_directory(spillway):
    """The unit's socket is where systemd makes a directory (RuntimeDirectory=, under /run), and
    spillway accepts the address."""
    text = open(os.path.join(ROOT, "shim-configs", "systemd", "spillway-filesystem-example.service")).read()
    (directory,) = re.findall(r"^RuntimeDirectory=(\S+)$", text, re.M)
    (address,) = re.findall(r"^Environment=SPILLWAY_METRICS_ADDRESS=(\S+)$", text, re.M)
    assert address.startswith(f"unix:///run/{directory}/"), address
    result = run(["--check-config", "--", "app"], env=base_env(SPILLWAY_METRICS_ADDRESS=address))
    assert result.returncode == 0, result.stderr


def test_dockerfile_builds_with_build_release_and_copies_what_it_makes():
    dockerfile = open(os.path.join(ROOT, "shim-configs", "Dockerfile.example")).read()
    build_release = open(os.path.join(ROOT, "scripts", "build-release")).read()
    assert "RUN scripts/build-release" in dockerfile
    (made,) = set(re.findall(r"strip -o (\S+)", build_release))
    assert f"COPY --from=build /src/{made} /usr/local/bin/spillway" in dockerfile
    needed = set(re.findall(r"apt-get install (\S+ \S+)\)", build_release)[0].split())
    assert needed <= set(dockerfile.split()), needed
