"""Stand-ins for the credential endpoints the chain asks: the ECS/EKS container credentials
endpoint (`--mode container`, GET any path, `Authorization` must equal --token) and EC2
instance metadata with IMDSv2 (`--mode imds`: PUT /latest/api/token, then GETs that must carry
the token; v1 GETs without a token get 401).

Each fetch issues new credentials AKIDCRED<n> / credsecret<n> / token<n> that expire
--lifetime seconds later, so a test can tell refreshes apart; every request goes to --log as
JSON lines {"method", "path", "status"}.
"""
import argparse
import datetime
import json
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peerlib import write_atomically  # noqa: E402

ROLE = "spillway-test-role"
IMDS_TOKEN = "imds-session-token-abc"


def issued(n):
    return f"AKIDCRED{n}", f"credsecret{n}", f"token{n}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    args = None
    lock = threading.Lock()
    count = 0

    def log_message(self, *args):
        pass

    def reply(self, status, body, content_type="application/json"):
        data = body.encode() if isinstance(body, str) else body
        with open(self.args.log, "a") as f:
            f.write(json.dumps({"method": self.command, "path": self.path, "status": status}) + "\n")
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def credentials(self):
        with Handler.lock:
            Handler.count += 1
            n = Handler.count
        key, secret, token = issued(n)
        expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=self.args.lifetime)
        return json.dumps({"Code": "Success", "Type": "AWS-HMAC", "AccessKeyId": key, "SecretAccessKey": secret,
                           "Token": token, "Expiration": expires.strftime("%Y-%m-%dT%H:%M:%SZ")})

    def do_PUT(self):
        if self.args.mode == "imds" and self.path == "/latest/api/token":
            ttl = self.headers.get("x-aws-ec2-metadata-token-ttl-seconds", "")
            if not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
                return self.reply(400, "bad ttl", "text/plain")
            return self.reply(200, IMDS_TOKEN, "text/plain")
        self.reply(404, "not found", "text/plain")

    def do_GET(self):
        if self.args.mode == "container":
            if self.args.token is not None and self.headers.get("authorization") != self.args.token:
                return self.reply(401, '{"message": "bad token"}')
            return self.reply(200, self.credentials())
        if self.headers.get("x-aws-ec2-metadata-token") != IMDS_TOKEN:
            return self.reply(401, "", "text/plain")
        prefix = "/latest/meta-data/iam/security-credentials/"
        if self.path == prefix:
            return self.reply(200, ROLE, "text/plain")
        if self.path == prefix + ROLE:
            return self.reply(200, self.credentials())
        if self.path == "/latest/meta-data/placement/region":
            return self.reply(200, self.args.region, "text/plain")
        self.reply(404, "not found", "text/plain")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", default="tcp:127.0.0.1:0")
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--mode", choices=["container", "imds"], required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--token", help="container mode: the Authorization value required")
    parser.add_argument("--lifetime", type=int, default=3600)
    parser.add_argument("--region", default="us-east-1")
    Handler.args = parser.parse_args()
    host, _, port = Handler.args.listen.partition(":")[2].rpartition(":")
    server = ThreadingHTTPServer((host, int(port)), Handler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    write_atomically(Handler.args.port_file, str(server.server_address[1]))
    server.serve_forever(poll_interval=0.1)


if __name__ == "__main__":
    main()
