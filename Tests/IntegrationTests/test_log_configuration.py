"""Issue 14: an ECS/Docker logConfiguration in SPILLWAY_LOG_CONFIGURATION(_FILE) configures sink and
mode as Docker / the ECS agent would, against moto (read back with boto3) and the forward receiver;
the ECS task metadata endpoint is a stand-in on 127.0.0.1."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest

from conftest import run
from cloudwatch_testlib import Moto, aws_free_env
from peerlib import Peer, read_events

# From the AWS post on logging backpressure, verbatim.
AWSLOGS = {"logDriver": "awslogs", "options": {"awslogs-group": "awslogs-logtest", "awslogs-region": "eu-west-1",
                                              "awslogs-create-group": "true", "awslogs-stream-prefix": "awslogs-logtest"}}
AWSLOGS_NON_BLOCKING = {"logDriver": "awslogs", "options": {**AWSLOGS["options"], "mode": "non-blocking"}}
FIRELENS = {"logDriver": "awsfirelens", "options": {"Name": "CloudWatch", "region": "eu-west-1",
                                                   "log_group_name": "awslogs-logtest-firelens",
                                                   "auto_create_group": "true", "log_stream_name": "logtest-firelens"}}
TASK_ID = "0123456789abcdef0123456789abcdef"
TASK_ARN = f"arn:aws:ecs:eu-west-1:123456789012:task/default/{TASK_ID}"


@pytest.fixture
def moto(tmp_path):
    with Moto(tmp_path) as m:
        yield m


def logs(moto):
    return boto3.client("logs", endpoint_url=moto.url, region_name="eu-west-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def messages(moto, group, stream):
    return [e["message"] for e in logs(moto).get_log_events(logGroupName=group, logStreamName=stream)["events"]]


def aws_env(moto, **extra):
    """Credentials and the endpoint only: everything else comes from the logConfiguration."""
    return aws_free_env(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_ENDPOINT_URL=moto.url,
                        AWS_EC2_METADATA_DISABLED="true", SPILLWAY_SHUTDOWN_TIMEOUT="20s", **extra)


class TaskMetadata:
    """The ECS task metadata endpoint v4 on 127.0.0.1: GET ${ECS_CONTAINER_METADATA_URI_V4}/task
    (the task) and GET ${ECS_CONTAINER_METADATA_URI_V4} (this container)."""

    def __init__(self):
        answers = {"/v4/abc/task": {"Cluster": "default", "TaskARN": TASK_ARN, "Family": "logtest", "Revision": "7"},
                   "/v4/abc": {"Name": "web", "DockerId": "0123456789ab" * 5 + "cdef"}}
        seen = self.paths = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                seen.append(self.path)
                answer = answers.get(self.path)
                body = json.dumps(answer).encode() if answer else b"{}"
                self.send_response(200 if answer else 404)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.uri = f"http://127.0.0.1:{self.server.server_address[1]}/v4/abc"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def test_awslogs_fixture_with_the_container_id_as_task_id(spillway, moto):
    env = aws_env(moto, SPILLWAY_LOG_CONFIGURATION=json.dumps(AWSLOGS), SPILLWAY_CONTAINER_ID="cid1")
    result = run(["--", "sh", "-c", "echo one; echo two"], env=env, timeout=120)
    assert result.returncode == 0, result.stderr.decode()
    assert messages(moto, "awslogs-logtest", "awslogs-logtest/sh/cid1") == ["one", "two"]


def test_awslogs_non_blocking_fixture_names_the_stream_from_ecs_metadata(spillway, moto):
    with TaskMetadata() as metadata:
        env = aws_env(moto, SPILLWAY_LOG_CONFIGURATION=json.dumps(AWSLOGS_NON_BLOCKING),
                      ECS_CONTAINER_METADATA_URI_V4=metadata.uri)
        check = run(["--check-config", "--", "sh"], env=env)
        assert check.returncode == 0, check.stderr.decode()
        text = check.stdout.decode()
        assert "SPILLWAY_MODE=non-blocking  # logConfiguration option mode" in text
        assert "SPILLWAY_NAME=web  # ECS container metadata Name" in text
        assert f"SPILLWAY_CLOUDWATCH_STREAM=awslogs-logtest/web/{TASK_ID}  # logConfiguration option awslogs-stream-prefix" in text
        assert "SPILLWAY_CLOUDWATCH_ENDPOINT=http://127.0.0.1:" in text and "# environment AWS_ENDPOINT_URL" in text
        result = run(["--", "sh", "-c", "echo hello"], env=env, timeout=120)
        assert metadata.paths and set(metadata.paths) == {"/v4/abc/task", "/v4/abc"}
    assert result.returncode == 0, result.stderr.decode()
    assert messages(moto, "awslogs-logtest", f"awslogs-logtest/web/{TASK_ID}") == ["hello"]


def test_the_metadata_is_not_fetched_when_the_stream_is_set(spillway, moto):
    with TaskMetadata() as metadata:
        uri = metadata.uri
    # Nothing listens there any more: a fetch would be a 125.
    env = aws_env(moto, SPILLWAY_LOG_CONFIGURATION=json.dumps(AWSLOGS), ECS_CONTAINER_METADATA_URI_V4=uri,
                  SPILLWAY_CLOUDWATCH_STREAM="fixed")
    result = run(["--", "echo", "hello"], env=env, timeout=120)
    assert result.returncode == 0, result.stderr.decode()
    assert messages(moto, "awslogs-logtest", "fixed") == ["hello"]


def test_firelens_records_carry_the_task_metadata(spillway, moto):
    with TaskMetadata() as metadata:
        env = aws_env(moto, SPILLWAY_LOG_CONFIGURATION=json.dumps(FIRELENS), ECS_CONTAINER_METADATA_URI_V4=metadata.uri)
        result = run(["--", "sh", "-c", "echo hello"], env=env, timeout=120)
    assert result.returncode == 0, result.stderr.decode()
    (record,) = [json.loads(m) for m in messages(moto, "awslogs-logtest-firelens", "logtest-firelens")]
    assert record["log"] == "hello" and record["source"] == "stdout" and record["container_name"] == "web"
    assert record["ecs_cluster"] == "default" and record["ecs_task_arn"] == TASK_ARN
    assert record["ecs_task_definition"] == "logtest:7"


def test_firelens_log_key_source_sends_that_field_alone(spillway, moto):
    config = {"logDriver": "awsfirelens", "options": {**FIRELENS["options"], "log_key": "source"}}
    env = aws_env(moto, SPILLWAY_LOG_CONFIGURATION=json.dumps(config))
    result = run(["--", "sh", "-c", "echo out; sleep 0.2; echo err >&2"], env=env, timeout=120)
    assert result.returncode == 0, result.stderr.decode()
    assert sorted(messages(moto, "awslogs-logtest-firelens", "logtest-firelens")) == ["stderr", "stdout"]
    missing = {"logDriver": "awsfirelens", "options": {**FIRELENS["options"], "log_key": "kubernetes"}}
    refused = run(["--", "true"], env=aws_env(moto, SPILLWAY_LOG_CONFIGURATION=json.dumps(missing)))
    assert refused.returncode == 125 and b"log_key" in refused.stderr


def test_firelens_fixture_sends_the_record_as_json(spillway, moto):
    env = aws_env(moto, SPILLWAY_LOG_CONFIGURATION=json.dumps(FIRELENS), SPILLWAY_NAME="app")
    result = run(["--", "sh", "-c", "echo hello; echo oops >&2"], env=env, timeout=120)
    assert result.returncode == 0, result.stderr.decode()
    records = [json.loads(m) for m in messages(moto, "awslogs-logtest-firelens", "logtest-firelens")]
    assert sorted((r["source"], r["log"], r["container_name"]) for r in records) == [
        ("stderr", "oops", "app"), ("stdout", "hello", "app")]


def test_firelens_log_key_log_sends_the_raw_line(spillway, moto):
    config = {"logDriver": "awsfirelens", "options": {**FIRELENS["options"], "log_key": "log"}}
    result = run(["--", "echo", "raw"], env=aws_env(moto, SPILLWAY_LOG_CONFIGURATION=json.dumps(config)), timeout=120)
    assert result.returncode == 0, result.stderr.decode()
    assert messages(moto, "awslogs-logtest-firelens", "logtest-firelens") == ["raw"]


def test_a_task_definition_file_with_two_containers(spillway, moto, tmp_path):
    peer = Peer("forward_receiver.py", str(tmp_path), "--events", str(tmp_path / "events.jsonl"),
                listen="tcp:127.0.0.1:0")
    with peer:
        task = {"family": "shop", "containerDefinitions": [
            {"name": "web", "logConfiguration": {"logDriver": "awslogs", "options": {
                "awslogs-group": "shop", "awslogs-region": "eu-west-1", "awslogs-create-group": "true",
                "awslogs-stream": "web-stream"}}},
            {"name": "worker", "logConfiguration": {"logDriver": "fluentd", "options": {
                "fluentd-address": f"127.0.0.1:{peer.port}", "tag": "shop.{{.Name}}"}}}]}
        path = tmp_path / "task.json"
        path.write_text(json.dumps(task))
        both = run(["--", "true"], env=aws_env(moto, SPILLWAY_LOG_CONFIGURATION_FILE=str(path)))
        assert both.returncode == 125 and b"web, worker" in both.stderr
        web = run(["--", "echo", "from web"],
                  env=aws_env(moto, SPILLWAY_LOG_CONFIGURATION_FILE=str(path), SPILLWAY_NAME="web"), timeout=120)
        assert web.returncode == 0, web.stderr.decode()
        worker = run(["--", "echo", "from worker"],
                     env=aws_env(moto, SPILLWAY_LOG_CONFIGURATION_FILE=str(path), SPILLWAY_NAME="worker"), timeout=60)
        assert worker.returncode == 0, worker.stderr.decode()
    assert messages(moto, "shop", "web-stream") == ["from web"]
    (event,) = read_events(tmp_path / "events.jsonl")
    assert event["tag"] == "shop.worker" and event["record"]["log"] == b"from worker"
    assert event["record"]["container_name"] == b"worker"


def test_fluentd_log_configuration_to_the_receiver_with_env_overriding(spillway, tmp_path):
    peer = Peer("forward_receiver.py", str(tmp_path), "--events", str(tmp_path / "events.jsonl"),
                listen="tcp:127.0.0.1:0")
    with peer:
        config = {"logDriver": "fluentd", "options": {"fluentd-address": f"tcp://127.0.0.1:{peer.port}",
                                                      "tag": "docker.{{.Name}}", "fluentd-async": "True",
                                                      "fluentd-max-retries": "3", "env": "DEPLOY_ENV",
                                                      "env-regex": "^APP_", "fluentd-write-timeout": "0"}}
        env = aws_free_env(SPILLWAY_LOG_CONFIGURATION=json.dumps(config), SPILLWAY_TAG="override.{name}",
                           DEPLOY_ENV="staging", APP_VERSION="3", SPILLWAY_SHUTDOWN_TIMEOUT="10s")
        result = run(["--", "echo", "hello"], env=env)
        assert result.returncode == 0, result.stderr.decode()
    (event,) = read_events(tmp_path / "events.jsonl")
    assert event["tag"] == "override.echo"
    assert event["record"]["log"] == b"hello" and event["record"]["DEPLOY_ENV"] == b"staging"
    assert event["record"]["APP_VERSION"] == b"3"


@pytest.mark.parametrize("options", [
    {"awslogs-group": "g", "awslogs-stream": "s", "tag": "{{.Name}}"},
    {"awslogs-group": "g", "awslogs-create-group": "T", "awslogs-create-stream": "0"},
    {"awslogs-group": "g", "awslogs-credentials-endpoint": "/v2/credentials/uuid"},
])
def test_docker_valid_options_start(spillway, options):
    config = {"logDriver": "awslogs", "options": options}
    result = run(["--check-config", "--", "true"],
                 env=aws_free_env(SPILLWAY_LOG_CONFIGURATION=json.dumps(config), AWS_REGION="eu-west-1"))
    assert result.returncode == 0, result.stderr.decode()


@pytest.mark.parametrize("options, named", [
    ({"awslogs-group": "g", "awslogs-colour": "red"}, "option awslogs-colour"),
    ({"awslogs-group": "g", "awslogs-create-group": "maybe"}, "option awslogs-create-group"),
    ({"awslogs-group": "g", "awslogs-datetime-format": "%Y", "awslogs-multiline-pattern": "^x"}, "awslogs-multiline-pattern"),
    ({"awslogs-group": "g", "awslogs-format": "json/emf", "awslogs-datetime-format": "%Y"}, "awslogs-datetime-format"),
    ({"awslogs-group": "g", "awslogs-multiline-pattern": "(unclosed"}, "option awslogs-multiline-pattern"),
    ({"awslogs-group": "g", "awslogs-create-group": "yes"}, "option awslogs-create-group"),
])
def test_bad_options_exit_125_naming_the_option(spillway, options, named):
    config = {"logDriver": "awslogs", "options": options}
    result = run(["--", "true"], env=aws_free_env(SPILLWAY_LOG_CONFIGURATION=json.dumps(config), AWS_REGION="eu-west-1"))
    assert result.returncode == 125
    assert named in result.stderr.decode()


def test_an_unreachable_task_metadata_endpoint_is_125_naming_it(spillway):
    with TaskMetadata() as metadata:
        missing = run(["--", "true"], timeout=30, env=aws_free_env(
            SPILLWAY_LOG_CONFIGURATION=json.dumps(AWSLOGS), ECS_CONTAINER_METADATA_URI_V4=metadata.uri + "x"))
        assert missing.returncode == 125 and b"HTTP 404" in missing.stderr
        uri = metadata.uri
    # Now nothing listens there.
    env = aws_free_env(SPILLWAY_LOG_CONFIGURATION=json.dumps(AWSLOGS), ECS_CONTAINER_METADATA_URI_V4=uri)
    result = run(["--", "true"], env=env, timeout=30)
    assert result.returncode == 125
    assert b"ECS_CONTAINER_METADATA_URI_V4" in result.stderr


@pytest.mark.parametrize("option,value", [("awslogs-multiline-pattern", r"^\[?\d{4}-\d{2}-\d{2}"),
                                          ("awslogs-datetime-format", "%Y-%m-%d %H:%M:%S")])
def test_awslogs_multiline_options_send_a_stack_trace_as_one_event(spillway, moto, option, value):
    from test_multiline import JAVA, JAVA_RECORDS, PYTHON, PYTHON_RECORDS, printing
    config = {"logDriver": "awslogs", "options": {**AWSLOGS["options"], option: value}}
    for trace, records, cid in [(JAVA, JAVA_RECORDS, "java"), (PYTHON, PYTHON_RECORDS, "python")]:
        env = aws_env(moto, SPILLWAY_LOG_CONFIGURATION=json.dumps(config), SPILLWAY_CONTAINER_ID=cid)
        result = run(printing(trace), env=env, timeout=120)
        assert result.returncode == 0, result.stderr.decode()
        assert messages(moto, "awslogs-logtest", f"awslogs-logtest/python3/{cid}") == records


def test_a_multiline_variable_overrides_the_objects_start_option(spillway, moto):
    from test_multiline import JAVA, JAVA_RECORDS, printing
    config = {"logDriver": "awslogs", "options": {**AWSLOGS["options"], "awslogs-datetime-format": "%H"}}
    env = aws_env(moto, SPILLWAY_LOG_CONFIGURATION=json.dumps(config), SPILLWAY_CONTAINER_ID="cid1",
                  SPILLWAY_MULTILINE_PATTERN=r"^\d{4}-")
    result = run(printing(JAVA), env=env, timeout=120)
    assert result.returncode == 0, result.stderr.decode()
    assert messages(moto, "awslogs-logtest", "awslogs-logtest/python3/cid1") == JAVA_RECORDS
