"""Self-test of the test peers, driven by a tiny forward client written here from the spec.

Run: python3 -m pytest -q Tests/IntegrationTests/peers
"""
import base64
import gzip
import hashlib
import json
import os
import signal
import socket
import ssl
import struct
import subprocess
import sys
import time

import msgpack
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peerlib import PEERS_DIR, Peer, read_errors, read_events, read_log  # noqa: E402


# --- a minimal forward client ------------------------------------------------------------

def event_time(seconds, nanos):
    return msgpack.ExtType(0, struct.pack(">II", seconds, nanos))


def pack_record_entry(time_value, record):
    # use_bin_type=False packs bytes as str, as Docker's driver sends a raw line in "log".
    return msgpack.packb([time_value, record], use_bin_type=False)


def new_chunk():
    return base64.b64encode(os.urandom(16)).decode()


def packed_forward(tag, entries, chunk=None, compressed=False, **extra_option):
    blob = b"".join(pack_record_entry(t, r) for t, r in entries)
    option = {"size": len(entries), **extra_option}
    if compressed:
        blob = gzip.compress(blob)
        option["compressed"] = "gzip"
    if chunk is not None:
        option["chunk"] = chunk
    return msgpack.packb([tag, blob, option], use_bin_type=True)


class Client:
    def __init__(self, address, tls_context=None):
        if isinstance(address, int):
            sock = socket.create_connection(("127.0.0.1", address), timeout=5)
        else:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(5)
            sock.connect(address)
        if tls_context is not None:
            sock = tls_context.wrap_socket(sock, server_hostname="127.0.0.1")
        self.sock = sock
        self.unpacker = msgpack.Unpacker(raw=False, unicode_errors="surrogateescape")
        self.raw = b""  # every byte received, to check encodings

    def send(self, data):
        self.sock.sendall(data)

    def read(self, timeout=5.0):
        """The next object from the server; EOFError once it closed, TimeoutError if silent."""
        self.sock.settimeout(timeout)
        while True:
            try:
                return next(self.unpacker)
            except StopIteration:
                pass
            try:
                data = self.sock.recv(65536)
            except (ConnectionResetError, ssl.SSLEOFError):
                data = b""
            except socket.timeout:
                raise TimeoutError from None
            if not data:
                raise EOFError
            self.raw += data
            self.unpacker.feed(data)

    def expect_closed(self):
        with pytest.raises(EOFError):
            while True:
                self.read()

    def handshake(self, shared_key, username="", password="", bin_field=None):
        """HELO/PING/PONG; returns the PONG after checking the server's digest when ok."""
        helo = self.read()
        assert helo[0] == "HELO"
        nonce = helo[1]["nonce"].encode("utf-8", "surrogateescape")
        auth = helo[1]["auth"].encode("utf-8", "surrogateescape")
        salt = os.urandom(16).hex().encode()
        hostname = b"selftest-client"
        key_digest = hashlib.sha512(salt + hostname + nonce + shared_key).hexdigest().encode()
        password_digest = b""
        if username:
            password_digest = hashlib.sha512(auth + username + password).hexdigest().encode()
        fields = [b"PING", hostname, salt, key_digest, username, password_digest]
        # Every field a str (use_bin_type=False packs bytes as str), except bin_field if given.
        self.send(b"\x96" + b"".join(msgpack.packb(field, use_bin_type=(i == bin_field))
                                     for i, field in enumerate(fields)))
        pong = self.read()
        assert pong[0] == "PONG"
        if pong[1]:
            expected = hashlib.sha512(salt + pong[3].encode() + nonce + shared_key).hexdigest()
            pong.append(pong[4] == expected)  # whether the server proved the shared key
        return pong, nonce, auth

    def close(self):
        self.sock.close()


# --- fixtures ----------------------------------------------------------------------------

@pytest.fixture
def receiver(tmp_path):
    """Starts forward_receiver.py with extra flags; yields (peer, events path)."""
    peers = []

    def start(*args, listen="tcp:127.0.0.1:0"):
        events = str(tmp_path / f"events{len(peers)}.jsonl")
        peer = Peer("forward_receiver.py", str(tmp_path), "--events", events, *args,
                    listen=listen)
        peers.append(peer)
        return peer, events

    yield start
    for peer in peers:
        peer.stop()


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    directory = tmp_path_factory.mktemp("certs")
    subprocess.run(["bash", os.path.join(PEERS_DIR, "make_certs.sh"), str(directory)], check=True)
    return directory


def wait_until(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


# --- forward_receiver --------------------------------------------------------------------

def test_packed_forward_with_event_time_and_ack(receiver):
    peer, events = receiver()
    client = Client(peer.port)
    chunk = new_chunk()
    line = b"caf\xc3\xa9 \xff\xfe not utf-8"
    client.send(packed_forward("docker.app", [
        (event_time(1700000000, 123456789), {"log": line, "source": "stdout"}),
        (event_time(1700000001, 999999999), {"log": b"", "source": "stderr"}),
    ], chunk=chunk))
    ack = client.read()
    assert ack == {"ack": chunk}
    assert client.raw[:6] == b"\x81\xa3ack\xb8"  # the ack value is a str (fixstr of 24)

    got = read_events(events)
    assert [e["time"] for e in got] == [[1700000000, 123456789], [1700000001, 999999999]]
    first = got[0]
    assert first["record"] == {"log": line, "source": b"stdout"}
    assert first["record_types"] == {"log": "str", "source": "str"}
    assert (first["tag"], first["time_type"], first["format"], first["chunk"]) == \
        ("docker.app", "eventtime", "packed", chunk)
    assert (first["conn"], first["msg"]) == (1, 1)


def test_stream_split_into_single_bytes_and_batched(receiver):
    peer, events = receiver()
    client = Client(peer.port)
    messages = [packed_forward("t", [(event_time(1, i), {"log": b"x" * i})], chunk=new_chunk())
                for i in range(4)]
    for byte in messages[0]:
        client.send(bytes([byte]))
    client.send(b"".join(messages[1:]))
    assert len([client.read() for _ in messages]) == 4
    assert [e["msg"] for e in read_events(events)] == [1, 2, 3, 4]


def test_gzip_with_several_members(receiver):
    peer, events = receiver()
    client = Client(peer.port)
    entries = [pack_record_entry(event_time(5, i), {"log": b"line %d" % i}) for i in range(6)]
    blob = gzip.compress(b"".join(entries[:2])) + gzip.compress(b"".join(entries[2:]))
    chunk = new_chunk()
    client.send(msgpack.packb(["t", blob, {"size": 6, "compressed": "gzip", "chunk": chunk}]))
    assert client.read() == {"ack": chunk}
    got = read_events(events)
    assert [e["record"]["log"] for e in got] == [b"line %d" % i for i in range(6)]
    assert {e["format"] for e in got} == {"compressed"}


def test_message_and_forward_modes_and_int_time(receiver):
    peer, events = receiver()
    client = Client(peer.port)
    client.send(msgpack.packb(["m", 42, {"n": 7, "b": b"\x00\x01", "ok": True}]))
    chunk = new_chunk()
    client.send(msgpack.packb(["f", [[event_time(9, 1), {"a": "x"}], [10, {"a": "y"}]],
                               {"chunk": chunk}]))
    assert client.read() == {"ack": chunk}
    message, forward1, forward2 = read_events(events)
    assert message["format"] == "message" and message["time"] == [42, 0]
    assert message["time_type"] == "int" and message["chunk"] is None
    assert message["record"] == {"n": 7, "b": b"\x00\x01", "ok": True}
    assert message["record_types"] == {"n": "int", "b": "bin", "ok": "bool"}
    assert (forward1["format"], forward1["time_type"], forward2["time_type"]) == \
        ("forward", "eventtime", "int")


@pytest.mark.parametrize("message, error", [
    (["t", event_time(1, 1_000_000_000), {}], "nanoseconds"),
    (["t", msgpack.ExtType(0, b"1234"), {}], "8 bytes"),
    (["t", msgpack.ExtType(1, b"12345678"), {}], "time must be"),
    (["t", -1, {}], "negative"),
    (["t", 1.5, {}], "second item"),
    (["t", 1, ["not", "a", "map"]], "record must be a map"),
    (["t", 1, {1: "int key"}], "record key must be str"),
    (["t", 1, {b"bin key": "x"}], "record key must be str"),
    ([b"bin tag", 1, {}], "tag must be str"),
    (["t", [[1, {}]], {"size": 2}], "size is 2"),
    (["t", [[1, {}]], {"chunk": b"bin chunk"}], "chunk must be str"),
    (["t", [[1, {}]], {"compressed": "gzip"}], "only valid with PackedForward"),
    (["t", b"not gzip", {"compressed": "gzip"}], "not valid gzip"),
    (["t", pack_record_entry(1, {})[:-1] + b"\x92", {}], "truncated"),
    # EventTime as ext8 (C7 08 00) instead of fixext8 (D7 00)
    (["t", b"\x92\xc7\x08\x00" + bytes(8) + b"\x80", {}], "fixext8"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_protocol_errors_close_the_connection(receiver, message, error):
    peer, events = receiver()
    client = Client(peer.port)
    client.send(msgpack.packb(message, use_bin_type=True))
    client.expect_closed()
    errors = read_errors(events)
    assert len(errors) == 1 and error in errors[0], errors
    assert read_events(events) == []


def test_duplicate_record_keys_are_an_error(receiver):
    peer, events = receiver()
    client = Client(peer.port)
    record = b"\x82\xa3log\xa1a\xa3log\xa1b"  # {"log": "a", "log": "b"}
    client.send(msgpack.packb(["t", b"\x92\x01" + record, {}]))
    client.expect_closed()
    assert "duplicate keys" in read_errors(events)[0]


def test_ack_as_bin_no_ack_and_ack_delay(receiver):
    as_bin, _ = receiver("--ack-as-bin")
    no_ack, events = receiver("--no-ack")
    delayed, _ = receiver("--ack-delay", "0.3")
    chunk = new_chunk()
    message = packed_forward("t", [(1, {"log": b"x"})], chunk=chunk)

    client = Client(as_bin.port)
    client.send(message)
    assert client.read() == {"ack": chunk.encode()}  # bytes: the value came as bin

    client = Client(no_ack.port)
    client.send(message)
    wait_until(lambda: len(read_events(events)) == 1)
    with pytest.raises(TimeoutError):
        client.read(timeout=0.3)

    client = Client(delayed.port)
    started = time.monotonic()
    client.send(message)
    assert client.read() == {"ack": chunk}
    assert time.monotonic() - started >= 0.3


def test_handshake_with_user_auth(receiver):
    peer, events = receiver("--shared-key", "s3cret", "--user", "alice:pw",
                            "--server-hostname", "recv")
    client = Client(peer.port)
    pong, nonce, auth = client.handshake(b"s3cret", b"alice", b"pw")
    assert pong == ["PONG", True, "", "recv", pong[4], True]
    # nonce and auth are str (fixstr of 16: 0xb0) holding raw bytes that are not UTF-8
    assert client.raw.count(b"\xa5nonce\xb0" + nonce) == 1
    assert client.raw.count(b"\xa4auth\xb0" + auth) == 1
    for value in (nonce, auth):
        with pytest.raises(UnicodeDecodeError):
            value.decode()
    chunk = new_chunk()
    client.send(packed_forward("t", [(1, {"log": b"after auth"})], chunk=chunk))
    assert client.read() == {"ack": chunk}
    assert read_events(events)[0]["record"]["log"] == b"after auth"


def test_handshake_without_users_sends_empty_auth(receiver):
    peer, _ = receiver("--shared-key", "k")
    client = Client(peer.port)
    pong, _, auth = client.handshake(b"k")
    assert pong[1] is True and pong[-1] is True and auth == b""


@pytest.mark.parametrize("key, user, password, reason", [
    (b"wrong", b"alice", b"pw", "shared_key mismatch"),
    (b"k", b"alice", b"wrong", "username/password mismatch"),
    (b"k", b"mallory", b"pw", "username/password mismatch"),
])
def test_handshake_refusals(receiver, key, user, password, reason):
    peer, events = receiver("--shared-key", "k", "--user", "alice:pw")
    client = Client(peer.port)
    pong, _, _ = client.handshake(key, user, password)
    assert pong == ["PONG", False, reason, "", ""]
    client.expect_closed()
    assert [e.get("auth_failed") for e in read_log(events)] == [reason]


def test_bin_ping_field_is_a_protocol_error(receiver):
    peer, events = receiver("--shared-key", "k")
    client = Client(peer.port)
    with pytest.raises(EOFError):
        client.handshake(b"k", bin_field=2)  # the salt as bin: closed without a PONG
    assert "shared_key_salt must be str, got bin" in read_errors(events)[0]


def test_bad_pong_digest_is_detectable(receiver):
    peer, _ = receiver("--shared-key", "k", "--bad-pong-digest")
    pong, _, _ = Client(peer.port).handshake(b"k")
    assert pong[1] is True and pong[-1] is False


def test_unix_socket(receiver, tmp_path):
    path = str(tmp_path / "forward.sock")
    peer, events = receiver(listen=f"unix:{path}")
    assert peer.port == path
    client = Client(path)
    chunk = new_chunk()
    client.send(packed_forward("u", [(event_time(3, 4), {"log": b"via unix"})], chunk=chunk))
    assert client.read() == {"ack": chunk}
    assert read_events(events)[0]["record"]["log"] == b"via unix"


def test_tls_with_client_certificate(receiver, certs):
    peer, events = receiver("--tls-cert", str(certs / "server.pem"),
                            "--tls-key", str(certs / "server.key"),
                            "--tls-client-ca", str(certs / "ca.pem"))
    context = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    context.load_cert_chain(str(certs / "client.pem"), str(certs / "client.key"))
    client = Client(peer.port, context)
    chunk = new_chunk()
    client.send(packed_forward("tls", [(event_time(1, 2), {"log": b"secret"})], chunk=chunk))
    assert client.read() == {"ack": chunk}
    assert read_events(events)[0]["record"]["log"] == b"secret"

    without_cert = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    client = Client(peer.port, without_cert)  # TLS 1.3: refused after the handshake
    with pytest.raises((EOFError, ssl.SSLError)):
        client.send(packed_forward("tls", [(1, {})], chunk=new_chunk()))
        client.read()


def test_drop_after_resets_without_ack_once(receiver):
    peer, events = receiver("--drop-after", "2")
    client = Client(peer.port)
    chunks = [new_chunk() for _ in range(3)]
    client.send(packed_forward("t", [(1, {"log": b"1"})], chunk=chunks[0]))
    assert client.read() == {"ack": chunks[0]}
    client.send(packed_forward("t", [(1, {"log": b"2"})], chunk=chunks[1]))
    client.expect_closed()
    # a new connection is not dropped again: the resend is acked
    client = Client(peer.port)
    for chunk in chunks[1:]:
        client.send(packed_forward("t", [(1, {"log": b"again"})], chunk=chunk))
        assert client.read() == {"ack": chunk}
    got = read_events(events)
    assert [(e["conn"], e["msg"], e["chunk"]) for e in got] == \
        [(1, 1, chunks[0]), (1, 2, chunks[1]), (2, 1, chunks[1]), (2, 2, chunks[2])]


def test_drop_every_conn(receiver):
    peer, _ = receiver("--drop-after", "1", "--drop-every-conn")
    for _ in range(2):
        client = Client(peer.port)
        client.send(packed_forward("t", [(1, {})], chunk=new_chunk()))
        client.expect_closed()


def test_stall_after_until_sigusr2(receiver):
    peer, events = receiver("--stall-after", "1")
    client = Client(peer.port)
    chunks = [new_chunk() for _ in range(2)]
    client.send(packed_forward("t", [(1, {})], chunk=chunks[0]))
    assert client.read() == {"ack": chunks[0]}
    client.send(packed_forward("t", [(1, {})], chunk=chunks[1]))
    with pytest.raises(TimeoutError):
        client.read(timeout=0.3)
    assert len(read_events(events)) == 1
    peer.signal(signal.SIGUSR2)
    assert client.read() == {"ack": chunks[1]}


def test_sigusr1_resets_connections_and_stats_on_sigterm(receiver, tmp_path):
    stats = tmp_path / "stats.json"
    peer, _ = receiver("--stats", str(stats))
    clients = [Client(peer.port) for _ in range(3)]
    for client in clients:
        client.send(packed_forward("t", [(1, {}), (2, {})], chunk=new_chunk()))
        client.read()
    peer.signal(signal.SIGUSR1)
    for client in clients:
        client.expect_closed()
    assert peer.stop() == 0
    assert json.loads(stats.read_text()) == {"connections": 3, "messages": 3, "events": 6,
                                             "acks_sent": 3, "errors": 0, "auth_failures": 0}


# --- bench_receiver ----------------------------------------------------------------------

def test_bench_receiver_counts_and_acks(tmp_path):
    counts = tmp_path / "counts.json"
    with Peer("bench_receiver.py", str(tmp_path), "--count-file", str(counts)) as peer:
        client = Client(peer.port)
        big = [(event_time(1, 1), {"log": os.urandom(1000)}) for _ in range(6000)]  # ~6 MB
        messages = [
            (packed_forward("t", big, chunk=new_chunk()), 6000),
            (packed_forward("t", big[:100], chunk=new_chunk(), compressed=True), 100),
            (packed_forward("t", [], chunk=new_chunk()), 0),
        ]
        sent = b"".join(m for m, _ in messages)
        client.send(sent[:5])  # a head split mid-way
        time.sleep(0.05)
        client.send(sent[5:])
        for message, _ in messages:
            ack = client.read()
            assert set(ack) == {"ack"} and ack["ack"].encode() in message
        assert peer.stop() == 0
    assert json.loads(counts.read_text()) == {
        "connections": 1, "messages": 3, "events": 6100, "bytes": len(sent), "acks_sent": 3}
