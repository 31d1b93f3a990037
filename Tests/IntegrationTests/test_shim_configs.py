"""Every ready-made env file in shim-configs/ is a valid configuration for the built binary."""
import glob
import json
import os
import re
import shutil
import subprocess

import pytest

from conftest import ROOT, base_env, run


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
def test_env_file_is_accepted(spillway, path):
    result = run(["--check-config", "--", "app"], env=base_env(**env_file(path)))
    assert result.returncode == 0, result.stderr.decode()


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(ROOT, "shim-configs", "ecs-task-definition*.json"))),
                         ids=os.path.basename)
def test_ecs_task_definition_environment_is_accepted(spillway, path):
    task = json.load(open(path))
    (app,) = [c for c in task["containerDefinitions"] if c["name"] == "app"]
    env = {e["name"]: e["value"] for e in app["environment"]}
    result = run(["--check-config", "--", *app["command"]], env=base_env(**env))
    assert result.returncode == 0, result.stderr.decode()


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(ROOT, "shim-configs", "systemd", "*.service"))),
                         ids=os.path.basename)
def test_systemd_unit_environment_is_accepted(spillway, path, tmp_path):
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
    result = run(["--check-config", "--", "app"], env=base_env(**env))
    assert result.returncode == 0, result.stderr.decode()


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


def test_dockerfile_builds_with_build_release_and_copies_what_it_makes():
    dockerfile = open(os.path.join(ROOT, "shim-configs", "Dockerfile.example")).read()
    build_release = open(os.path.join(ROOT, "scripts", "build-release")).read()
    assert "RUN scripts/build-release" in dockerfile
    (made,) = set(re.findall(r"strip -o (\S+)", build_release))
    assert f"COPY --from=build /src/{made} /usr/local/bin/spillway" in dockerfile
    needed = set(re.findall(r"apt-get install (\S+ \S+)\)", build_release)[0].split())
    assert needed <= set(dockerfile.split()), needed
