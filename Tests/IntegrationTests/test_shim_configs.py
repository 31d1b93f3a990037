"""Every ready-made env file in shim-configs/ is a valid configuration for the built binary."""
import glob
import json
import os

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
