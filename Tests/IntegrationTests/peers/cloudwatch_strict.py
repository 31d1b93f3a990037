"""A strict stand-in for CloudWatch Logs (JSON 1.1 over plain http on 127.0.0.1).

moto does not enforce PutLogEvents' limits; this does, as the service documents them: at most
10,000 events and 1,048,576 bytes counted as UTF-8 message bytes + 26 per event, each message
non-empty and at most 1,000,000 bytes, valid UTF-8, events in chronological order spanning at most
24 hours. Every request's SigV4 signature is recomputed with botocore's signer (an independent
implementation) for the same headers, body and x-amz-date, and must equal spillway's
Authorization header exactly. Violations answer 400 as the service would and are logged.

Accepted events go to --events as JSON lines {"group", "stream", "timestamp", "message"}; every
request's outcome goes to --log as {"action", "status", "error"?, "events"?}.

Usage: cloudwatch_strict.py --listen tcp:127.0.0.1:0 --port-file F --events E --log L
       [--credentials AKID:SECRET ...] [--region us-east-1] [--fail-puts N] [--throttle-puts N]
"""
import argparse
import calendar
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peerlib import write_atomically  # noqa: E402

MAX_EVENTS = 10_000
MAX_BYTES = 1_048_576
PER_EVENT = 26
MAX_MESSAGE = 1_000_000
MAX_SPAN_MS = 24 * 3600 * 1000
TOO_OLD_MS = 14 * 24 * 3600 * 1000
TOO_NEW_MS = 2 * 3600 * 1000
UNSIGNED = {"authorization", "content-length", "connection", "user-agent", "accept-encoding"}


class ServiceError(Exception):
    def __init__(self, kind, message, status=400):
        super().__init__(message)
        self.kind, self.message, self.status = kind, message, status


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.groups = {}  # name -> {"retention": int|None, "streams": {name: count}}
        self.puts = 0
        self.events_file = open(args.events, "a", encoding="utf-8")
        self.log_file = open(args.log, "a", encoding="utf-8")
        self.secrets = dict(c.split(":", 1) for c in args.credentials)

    def log(self, entry):
        with self.lock:
            self.log_file.write(json.dumps(entry) + "\n")
            self.log_file.flush()


def verify_signature(state, method, path, headers, body):
    auth = headers.get("authorization", "")
    if not auth.startswith("AWS4-HMAC-SHA256 Credential="):
        raise ServiceError("MissingAuthenticationTokenException", "no SigV4 Authorization header")
    key = auth[len("AWS4-HMAC-SHA256 Credential="):].split("/", 1)[0]
    if key not in state.secrets:
        raise ServiceError("UnrecognizedClientException", "The security token included in the request is invalid.")
    amz_date = headers.get("x-amz-date", "")
    try:
        signed_at = calendar.timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ"))
    except ValueError:
        raise ServiceError("IncompleteSignatureException", f"bad x-amz-date {amz_date!r}")
    if abs(signed_at - time.time()) > 15 * 60:
        raise ServiceError("InvalidSignatureException", "Signature expired")
    token = headers.get("x-amz-security-token")
    signer = SigV4Auth(Credentials(key, state.secrets[key], token), "logs", state.args.region)
    request = AWSRequest(method=method, url=f"http://{headers['host']}{path}", data=body,
                         headers={k: v for k, v in headers.items() if k not in UNSIGNED})
    request.context["timestamp"] = amz_date
    canonical = signer.canonical_request(request)
    signature = signer.signature(signer.string_to_sign(request, canonical), request)
    expected = (f"AWS4-HMAC-SHA256 Credential={signer.scope(request)}, "
                f"SignedHeaders={signer.signed_headers(signer.headers_to_sign(request))}, Signature={signature}")
    if expected != auth:
        raise ServiceError("InvalidSignatureException",
                           f"signature mismatch: expected {expected!r}, got {auth!r}; canonical request {canonical!r}")


def need(params, *names):
    for name in names:
        if not isinstance(params.get(name), str) or not params[name]:
            raise ServiceError("InvalidParameterException", f"missing {name}")
    return [params[n] for n in names]


def put_log_events(state, params):
    group, stream = need(params, "logGroupName", "logStreamName")
    events = params.get("logEvents")
    if not isinstance(events, list) or not events:
        raise ServiceError("InvalidParameterException", "logEvents must hold at least one event")
    if len(events) > MAX_EVENTS:
        raise ServiceError("InvalidParameterException", f"{len(events)} events: more than {MAX_EVENTS}")
    size = 0
    last = None
    for e in events:
        message, ts = e.get("message"), e.get("timestamp")
        if not isinstance(message, str) or not isinstance(ts, int):
            raise ServiceError("InvalidParameterException", "each event needs a string message and an integer timestamp")
        if message == "":
            raise ServiceError("InvalidParameterException", "empty message")
        try:
            encoded = message.encode("utf-8")  # lone surrogates from \\u escapes fail here
        except UnicodeEncodeError:
            raise ServiceError("InvalidParameterException", "message is not valid UTF-8")
        if len(encoded) > MAX_MESSAGE:
            raise ServiceError("InvalidParameterException", f"Log event too large: {len(encoded)} bytes")
        size += len(encoded) + PER_EVENT
        if last is not None and ts < last:
            raise ServiceError("InvalidParameterException", "Log events in a single PutLogEvents request must be in chronological order.")
        last = ts
    if size > MAX_BYTES:
        raise ServiceError("InvalidParameterException", f"batch of {size} bytes: more than {MAX_BYTES}")
    if events[-1]["timestamp"] - events[0]["timestamp"] > MAX_SPAN_MS:
        raise ServiceError("InvalidParameterException", "A batch of log events in a single PutLogEvents request cannot span more than 24 hours.")
    with state.lock:
        state.puts += 1
        n = state.puts
    if n <= state.args.fail_puts:
        raise ServiceError("ServiceUnavailableException", "scripted failure", status=503)
    if n <= state.args.fail_puts + state.args.throttle_puts:
        raise ServiceError("ThrottlingException", "Rate exceeded")
    with state.lock:
        g = state.groups.get(group)
        if g is None:
            raise ServiceError("ResourceNotFoundException", "The specified log group does not exist.")
        if stream not in g["streams"]:
            raise ServiceError("ResourceNotFoundException", "The specified log stream does not exist.")
        now = int(time.time() * 1000)
        too_new = next((i for i, e in enumerate(events) if e["timestamp"] > now + TOO_NEW_MS), None)
        too_old = sum(1 for e in events if e["timestamp"] < now - TOO_OLD_MS)
        accepted = events[too_old:too_new]
        for e in accepted:
            state.events_file.write(json.dumps({"group": group, "stream": stream, "timestamp": e["timestamp"],
                                                "message": e["message"]}) + "\n")
        state.events_file.flush()
        g["streams"][stream] += len(accepted)
    answer = {"nextSequenceToken": str(n)}
    info = {}
    if too_old:
        info["tooOldLogEventEndIndex"] = too_old
    if too_new is not None:
        info["tooNewLogEventStartIndex"] = too_new
    if info:
        answer["rejectedLogEventsInfo"] = info
    return answer, len(accepted)


def create_log_group(state, params):
    (group,) = need(params, "logGroupName")
    with state.lock:
        if group in state.groups:
            raise ServiceError("ResourceAlreadyExistsException", "The specified log group already exists")
        state.groups[group] = {"retention": None, "streams": {}}
    return {}, None


def create_log_stream(state, params):
    group, stream = need(params, "logGroupName", "logStreamName")
    with state.lock:
        g = state.groups.get(group)
        if g is None:
            raise ServiceError("ResourceNotFoundException", "The specified log group does not exist.")
        if stream in g["streams"]:
            raise ServiceError("ResourceAlreadyExistsException", "The specified log stream already exists")
        g["streams"][stream] = 0
    return {}, None


def put_retention_policy(state, params):
    (group,) = need(params, "logGroupName")
    days = params.get("retentionInDays")
    if days not in (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653):
        raise ServiceError("InvalidParameterException", f"retentionInDays {days!r}")
    with state.lock:
        if group not in state.groups:
            raise ServiceError("ResourceNotFoundException", "The specified log group does not exist.")
        state.groups[group]["retention"] = days
    return {}, None


def describe_log_streams(state, params):
    (group,) = need(params, "logGroupName")
    with state.lock:
        g = state.groups.get(group)
        if g is None:
            raise ServiceError("ResourceNotFoundException", "The specified log group does not exist.")
        return {"logStreams": [{"logStreamName": s, "storedEvents": n} for s, n in sorted(g["streams"].items())]}, None


ACTIONS = {"PutLogEvents": put_log_events, "CreateLogGroup": create_log_group, "CreateLogStream": create_log_stream,
           "PutRetentionPolicy": put_retention_policy, "DescribeLogStreams": describe_log_streams}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state = None

    def log_message(self, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(length)
        headers = {k.lower(): v for k, v in self.headers.items()}
        target = headers.get("x-amz-target", "")
        action = target.split(".", 1)[-1]
        entry = {"action": action, "path": self.path, "format": headers.get("x-amzn-logs-format")}
        try:
            verify_signature(self.state, "POST", self.path, headers, body)
            if headers.get("content-type") != "application/x-amz-json-1.1" or not target.startswith("Logs_20140328."):
                raise ServiceError("UnknownOperationException", f"content-type {headers.get('content-type')!r}, target {target!r}")
            if action not in ACTIONS:
                raise ServiceError("UnknownOperationException", f"no such action {action!r}")
            try:
                params = json.loads(body.decode("utf-8"))  # strict: invalid UTF-8 bytes fail
            except (UnicodeDecodeError, ValueError) as e:
                raise ServiceError("SerializationException", f"body is not valid UTF-8 JSON: {e}")
            answer, count = ACTIONS[action](self.state, params)
            if count is not None:
                entry["events"] = count
            self.reply(200, answer, entry)
        except ServiceError as e:
            entry["error"] = e.kind
            entry["message"] = e.message
            self.reply(e.status, {"__type": e.kind, "message": e.message}, entry)

    def reply(self, status, payload, entry):
        entry["status"] = status
        self.state.log(entry)
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/x-amz-json-1.1")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", default="tcp:127.0.0.1:0")
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--events", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--credentials", action="append", default=[])
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--group", action="append", default=[], help="a group that exists from the start")
    parser.add_argument("--fail-puts", type=int, default=0, help="answer the first N PutLogEvents with 503")
    parser.add_argument("--throttle-puts", type=int, default=0, help="then N with ThrottlingException")
    args = parser.parse_args()
    if not args.credentials:
        args.credentials = ["AKIDSTRICT:strict-secret"]
    host, _, port = args.listen.partition(":")[2].rpartition(":")
    Handler.state = State(args)
    for g in args.group:
        Handler.state.groups[g] = {"retention": None, "streams": {}}
    server = ThreadingHTTPServer((host, int(port)), Handler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    write_atomically(args.port_file, str(server.server_address[1]))
    server.serve_forever(poll_interval=0.1)


if __name__ == "__main__":
    main()
