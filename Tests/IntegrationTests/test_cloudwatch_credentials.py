"""Issue 5: each provider of the credential chain against a local stand-in: the container
credentials endpoint and IMDSv2 (peers/cloudwatch_creds.py), STS AssumeRoleWithWebIdentity in
moto, shared files. Requests go to the strict stand-in, which verifies each signature with the
credentials the provider issued (botocore's signer)."""
import time

from conftest import run, summary_line
from peerlib import Peer
from cloudwatch_testlib import STRICT_KEY, STRICT_SECRET, Moto, Strict, cloudwatch_env, read_jsonl

ISSUED = [f"AKIDCRED{n}:credsecret{n}" for n in range(1, 200)]
# Lines spread over ~1.5 s, so several flushes (200 ms) each need credentials.
SPREAD = "import time\nfor i in range(8):\n    print(f'line {i}', flush=True)\n    time.sleep(0.2)\n"


def creds_peer(tmp_path, mode, *args):
    log = tmp_path / f"{mode}.jsonl"
    return Peer("cloudwatch_creds.py", str(tmp_path), "--mode", mode, "--log", str(log), *args), log


def test_container_credentials_with_token_file_are_refreshed_before_expiry(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("Bearer secret-token\n")
    # Issued credentials expire in 4 minutes: inside the 5-minute window, so every send refreshes.
    peer, log = creds_peer(tmp_path, "container", "--token", "Bearer secret-token", "--lifetime", "240")
    with peer, Strict(tmp_path, credentials=ISSUED) as strict:
        env = cloudwatch_env(strict.url, key=None,
                             AWS_CONTAINER_CREDENTIALS_FULL_URI=f"http://127.0.0.1:{peer.port}/v2/credentials/abc",
                             AWS_CONTAINER_AUTHORIZATION_TOKEN="Bearer wrong-token-file-wins",
                             AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=str(token_file))
        result = run(["--", "python3", "-c", SPREAD], env=env, timeout=60)
        assert result.returncode == 0, result.stderr.decode(errors="replace")
        assert strict.errors() == []
        assert strict.messages() == [f"line {i}" for i in range(8)]
        fetches = read_jsonl(log)
        assert all(f["status"] == 200 and f["path"] == "/v2/credentials/abc" for f in fetches)
        assert len(fetches) >= 3, "expiring credentials were not refreshed"
        assert "secret-token" not in result.stderr.decode() and "credsecret" not in result.stderr.decode()


def test_container_credentials_refused_are_retried_not_dropped_silently(tmp_path):
    peer, log = creds_peer(tmp_path, "container", "--token", "right")
    with peer, Strict(tmp_path, credentials=ISSUED) as strict:
        env = cloudwatch_env(strict.url, key=None, SPILLWAY_SHUTDOWN_TIMEOUT="1s",
                             AWS_CONTAINER_CREDENTIALS_FULL_URI=f"http://localhost:{peer.port}/creds",
                             AWS_CONTAINER_AUTHORIZATION_TOKEN="wrong")
        result = run(["--", "python3", "-c", "print('x')"], env=env, timeout=60)
        assert result.returncode == 0
        assert strict.log() == []
        stderr = result.stderr.decode()
        assert "container credentials endpoint" in stderr and "HTTP 401" in stderr
        assert "wrong" not in stderr
        assert summary_line(result.stderr)["dropped"] == 1


def test_instance_metadata_gives_region_and_credentials(tmp_path):
    peer, log = creds_peer(tmp_path, "imds", "--region", "eu-west-3")
    with peer, Strict(tmp_path, "--region", "eu-west-3", credentials=ISSUED) as strict:
        env = cloudwatch_env(strict.url, key=None, AWS_REGION="", AWS_EC2_METADATA_DISABLED="false",
                             AWS_EC2_METADATA_SERVICE_ENDPOINT=f"http://127.0.0.1:{peer.port}/")
        del env["AWS_REGION"]
        result = run(["--", "python3", "-c", "print('from imds')"], env=env, timeout=60)
        assert result.returncode == 0, result.stderr.decode(errors="replace")
        assert strict.errors() == []
        assert strict.messages() == ["from imds"]
        paths = [(r["method"], r["path"]) for r in read_jsonl(log)]
        assert ("PUT", "/latest/api/token") in paths
        assert ("GET", "/latest/meta-data/placement/region") in paths
        assert ("GET", "/latest/meta-data/iam/security-credentials/spillway-test-role") in paths
        assert all(r["status"] == 200 for r in read_jsonl(log))


def test_region_only_from_unreachable_metadata_is_125_after_about_a_second(tmp_path):
    env = cloudwatch_env("http://127.0.0.1:9", AWS_EC2_METADATA_DISABLED="false",
                         AWS_EC2_METADATA_SERVICE_ENDPOINT="http://127.0.0.1:9")
    del env["AWS_REGION"]
    started = time.monotonic()
    result = run(["--", "true"], env=env, timeout=30)
    assert result.returncode == 125
    assert "SPILLWAY_CLOUDWATCH_REGION" in result.stderr.decode()
    assert time.monotonic() - started < 4


def test_web_identity_through_sts_in_moto(tmp_path):
    token_file = tmp_path / "web-identity-token"
    token_file.write_text("eyJhbGciOiJSUzI1NiJ9.test.token")
    with Moto(tmp_path) as moto:
        env = cloudwatch_env(moto.url, key=None, SPILLWAY_LOG_LEVEL="info",
                             AWS_WEB_IDENTITY_TOKEN_FILE=str(token_file),
                             AWS_ROLE_ARN="arn:aws:iam::123456789012:role/spillway",
                             AWS_ENDPOINT_URL_STS=moto.url)
        result = run(["--", "python3", "-c", "print('via sts')"], env=env, timeout=60)
        assert result.returncode == 0, result.stderr.decode(errors="replace")
        assert moto.messages() == ["via sts"]
        stderr = result.stderr.decode()
        assert "web identity (arn:aws:iam::123456789012:role/spillway)" in stderr
        assert "test.token" not in stderr


def test_web_identity_sts_unreachable_is_retried(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("t")
    with Strict(tmp_path) as strict:
        env = cloudwatch_env(strict.url, key=None, SPILLWAY_SHUTDOWN_TIMEOUT="1s",
                             AWS_WEB_IDENTITY_TOKEN_FILE=str(token_file), AWS_ROLE_ARN="arn:aws:iam::1:role/r",
                             AWS_ENDPOINT_URL_STS="http://127.0.0.1:9")
        result = run(["--", "python3", "-c", "print('x')"], env=env, timeout=60)
        assert result.returncode == 0
        assert "STS AssumeRoleWithWebIdentity" in result.stderr.decode()
        assert summary_line(result.stderr)["dropped"] == 1


def test_shared_credentials_file_and_profile(tmp_path):
    creds = tmp_path / "credentials"
    creds.write_text(f"[default]\naws_access_key_id = AKIDOTHER\naws_secret_access_key = other\n\n"
                     f"[ci]\naws_access_key_id = {STRICT_KEY}\naws_secret_access_key = {STRICT_SECRET}\n")
    with Strict(tmp_path) as strict:
        env = cloudwatch_env(strict.url, key=None, AWS_SHARED_CREDENTIALS_FILE=str(creds), AWS_PROFILE="ci")
        result = run(["--", "python3", "-c", "print('from profile')"], env=env, timeout=60)
        assert result.returncode == 0, result.stderr.decode(errors="replace")
        assert strict.errors() == [] and strict.messages() == ["from profile"]
        missing = dict(env, AWS_PROFILE="nope")
        result = run(["--", "true"], env=missing, timeout=30)
        assert result.returncode == 125 and "AWS_PROFILE" in result.stderr.decode()


def test_environment_comes_first(tmp_path):
    creds = tmp_path / "credentials"
    creds.write_text("[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = file\n")
    with Strict(tmp_path) as strict:
        env = cloudwatch_env(strict.url, AWS_SHARED_CREDENTIALS_FILE=str(creds),
                             AWS_CONTAINER_CREDENTIALS_FULL_URI="http://127.0.0.1:9/creds")
        result = run(["--", "python3", "-c", "print('env')"], env=env, timeout=60)
        assert result.returncode == 0
        assert strict.errors() == [] and strict.messages() == ["env"]
