#!/usr/bin/env python3
"""Strict Fluentd Forward Protocol v1 receiver: the independent decoder in Spillway's tests.

Every message is checked against the protocol (docs/architecture.md, "Wire formats");
each event is appended as one JSON line to --events, and any violation is reported as
`PROTOCOL ERROR: ...` on stderr plus an {"error": ...} line, and the connection is closed.

Strings are decoded with surrogateescape so that msgpack str and bin stay distinguishable
(raw=True would turn both into bytes) while `.encode("utf-8", "surrogateescape")` still
gives back the exact bytes on the wire, invalid UTF-8 included.

Signals: SIGUSR1 resets every open connection; SIGUSR2 ends --stall-after (stalled
connections read again, and no new ones stall); SIGTERM/SIGINT write --stats and exit 0.
"""
import argparse
import base64
import binascii
import gc
import gzip
import hashlib
import itertools
import json
import operator
import os
import queue
import signal
import socket
import ssl
import struct
import sys
import threading
import time
import zlib

import msgpack

from peerlib import accept_forever, open_listener, write_atomically

RECV_SIZE = 256 * 1024
HELO_RANDOM_BYTES = 16
SHAPE_CACHE_LIMIT = 10_000


class ProtocolError(Exception):
    pass


class Shutdown(BaseException):
    """Raised in the main thread by the SIGTERM/SIGINT handler."""


def _map_from_pairs(pairs):
    # msgpack would silently keep the last of duplicate keys; a strict decoder must not.
    try:
        result = dict(pairs)
    except TypeError:
        raise ProtocolError("map key is an array or map") from None
    if len(result) != len(pairs):
        raise ProtocolError(f"map has duplicate keys: {[k for k, _ in pairs]!r}")
    return result


def _ext(code, data):
    # A plain (code, data) tuple: msgpack.ExtType's constructor costs more than the rest of
    # an entry. Arrays decode to lists, so a tuple is always an ext value.
    return (code, data)


def make_unpacker(max_buffer_size=100 * 1024 * 1024, strict_maps=True):
    return msgpack.Unpacker(raw=False, unicode_errors="surrogateescape", strict_map_key=False,
                            object_pairs_hook=_map_from_pairs if strict_maps else None,
                            ext_hook=_ext, max_buffer_size=max_buffer_size)


def wire_bytes(text):
    """The exact bytes of a msgpack str decoded by make_unpacker()."""
    return text.encode("utf-8", "surrogateescape")


# The msgpack family each decoded Python type came from, as reported in record_types.
TYPE_NAMES = {str: "str", bytes: "bin", bool: "bool", int: "int", float: "float",
              type(None): "nil", list: "array", dict: "map", tuple: "ext", msgpack.Timestamp: "ext"}


def msgpack_type(value):
    return TYPE_NAMES[type(value)]


def to_json(value):
    """Strings and bins become base64 of their exact bytes; containers are converted inside."""
    kind = type(value)
    if kind is str:
        return base64.b64encode(wire_bytes(value)).decode("ascii")
    if kind is bytes:
        return base64.b64encode(value).decode("ascii")
    if kind is list:
        return [to_json(v) for v in value]
    if kind is dict:
        return {k if type(k) is str else repr(k): to_json(v) for k, v in value.items()}
    if kind is tuple:
        return {"ext": value[0], "data": base64.b64encode(value[1]).decode("ascii")}
    if kind is msgpack.Timestamp:
        return {"ext": -1, "data": base64.b64encode(value.to_bytes()).decode("ascii")}
    return value


def parse_time(value):
    """Returns (seconds, nanoseconds, "eventtime" or "int")."""
    if type(value) is int:
        if value < 0:
            raise ProtocolError(f"integer time is negative: {value}")
        return value, 0, "int"
    if type(value) is tuple and value[0] == 0:
        if len(value[1]) != 8:
            raise ProtocolError(f"EventTime must carry 8 bytes, got {len(value[1])}")
        seconds, nanos = struct.unpack(">II", value[1])
        if nanos >= 1_000_000_000:
            raise ProtocolError(f"EventTime nanoseconds out of range: {nanos}")
        return seconds, nanos, "eventtime"
    got = f"ext({value[0]})" if type(value) is tuple else msgpack_type(value)
    raise ProtocolError(f"time must be EventTime (ext 0) or a non-negative int, got {got}")


def check_entry(entry):
    """Checks [time, record]; the record's keys are checked by EventFormatter, once per shape."""
    if type(entry) is not list or len(entry) != 2:
        raise ProtocolError(f"entry must be [time, record], got {to_json(entry)!r:.200}")
    if type(entry[1]) is not dict:
        raise ProtocolError(f"record must be a map, got {msgpack_type(entry[1])}")
    return parse_time(entry[0]), entry[1]


_ARRAY_HEADER_LENGTH = {0xDC: 3, 0xDD: 5}
_INT_LENGTH = {0xCC: 2, 0xCD: 3, 0xCE: 5, 0xCF: 9, 0xD0: 2, 0xD1: 3, 0xD2: 5, 0xD3: 9}


def _map_length(blob, at):
    first = blob[at]
    if first == 0xDE:
        return struct.unpack_from(">H", blob, at + 1)[0]
    if first == 0xDF:
        return struct.unpack_from(">I", blob, at + 1)[0]
    return first & 0x0F


def unpack_packed_entries(blob):
    """Decodes PackedForward entries: concatenated [time, record] arrays.

    Two checks look at the bytes themselves: each EventTime must be encoded as fixext8
    (D7 00), as the spec states, and each record must hold as many keys as its map header
    announces, which catches duplicate keys (the strict pairs hook is too slow here, so a
    map nested inside a record value is not checked for them).
    """
    unpacker = make_unpacker(max(len(blob), 1024 * 1024), strict_maps=False)
    unpacker.feed(blob)
    entries = []
    start = 0
    for entry in unpacker:
        at = start + _ARRAY_HEADER_LENGTH.get(blob[start], 1)
        if (type(entry) is list and len(entry) == 2 and type(entry[0]) is tuple
                and type(entry[1]) is dict and blob[at] == 0xD7 and blob[at + 1] == 0):
            # The usual [EventTime, record], read straight from the bytes to save time.
            seconds, nanos = struct.unpack_from(">II", blob, at + 2)
            if nanos >= 1_000_000_000:
                raise ProtocolError(f"EventTime nanoseconds out of range: {nanos}")
            time_value, record = (seconds, nanos, "eventtime"), entry[1]
            at += 10
        else:
            time_value, record = check_entry(entry)
            if time_value[2] == "eventtime":
                raise ProtocolError(f"EventTime is not encoded as fixext8 (D7 00) but starts "
                                    f"with {bytes(blob[at:at + 2]).hex()}")
            at += _INT_LENGTH.get(blob[at], 1)
        declared = _map_length(blob, at)
        if declared != len(record):
            raise ProtocolError(f"record map announces {declared} keys but holds "
                                f"{len(record)}: duplicate keys {list(record)!r}")
        entries.append((time_value, record))
        start = unpacker.tell()
    if start != len(blob):
        raise ProtocolError(f"entries end with {len(blob) - start} bytes of a truncated entry")
    return entries


def check_option(option):
    if type(option) is not dict:
        raise ProtocolError(f"option must be a map, got {msgpack_type(option)}")
    for key in option:
        if type(key) is not str:
            raise ProtocolError(f"option key must be str, got {msgpack_type(key)}")
    chunk = option.get("chunk")
    if chunk is not None and type(chunk) is not str:
        raise ProtocolError(f"option chunk must be str, got {msgpack_type(chunk)}")
    size = option.get("size")
    if size is not None and type(size) is not int:
        raise ProtocolError(f"option size must be int, got {msgpack_type(size)}")
    return chunk


def decode_message(msg):
    """Validates one forward message; returns (tag, format, entries, chunk).

    Each entry is ((seconds, nanoseconds, time type), record).
    """
    if type(msg) is not list or len(msg) < 2:
        raise ProtocolError(f"message must be an array of 2 to 4 items, got {to_json(msg)!r:.200}")
    tag = msg[0]
    if type(tag) is not str:
        raise ProtocolError(f"tag must be str, got {msgpack_type(tag)}")
    second = msg[1]
    kind = type(second)

    if kind is int or kind is tuple:  # Message mode: [tag, time, record, option?]
        if len(msg) not in (3, 4):
            raise ProtocolError(f"Message mode needs 3 or 4 items, got {len(msg)}")
        option = msg[3] if len(msg) == 4 else {}
        chunk = check_option(option)
        if "compressed" in option:
            raise ProtocolError("option compressed is only valid with PackedForward")
        entries = [check_entry(msg[1:3])]
        fmt = "message"
    else:
        if len(msg) not in (2, 3):
            raise ProtocolError(f"Forward/PackedForward needs 2 or 3 items, got {len(msg)}")
        option = msg[2] if len(msg) == 3 else {}
        chunk = check_option(option)
        compressed = option.get("compressed")
        if kind is list:
            if compressed is not None:
                raise ProtocolError("option compressed is only valid with PackedForward")
            entries = [check_entry(entry) for entry in second]
            fmt = "forward"
        elif kind is bytes or kind is str:
            blob = second if kind is bytes else wire_bytes(second)
            if compressed is None:
                fmt = "packed"
            elif compressed == "gzip":
                if not blob:
                    raise ProtocolError("compressed entries are empty")
                try:
                    blob = gzip.decompress(blob)  # also handles several concatenated members
                except (OSError, EOFError, zlib.error) as error:
                    raise ProtocolError(f"entries are not valid gzip: {error}") from None
                fmt = "compressed"
            else:
                raise ProtocolError(f"unsupported compressed option: {to_json(compressed)!r}")
            entries = unpack_packed_entries(blob)
        else:
            raise ProtocolError(f"second item must be time, array or bin/str, "
                                f"got {msgpack_type(second)}")

    size = option.get("size")
    if size is not None and size != len(entries):
        raise ProtocolError(f"option size is {size} but the message holds {len(entries)} entries")
    return tag, fmt, entries, chunk


def _json_bytes(value):
    return json.dumps(value).encode("ascii")


def _json_value(value):
    kind = type(value)
    if kind is str:
        return b'"%s"' % binascii.b2a_base64(wire_bytes(value), newline=False)
    if kind is bytes:
        return b'"%s"' % binascii.b2a_base64(value, newline=False)
    return _json_bytes(to_json(value))


_TIME_TYPE_JSON = {kind: b'],"time_type":"%s","record":{' % kind.encode()
                   for kind in ("eventtime", "int")}


class EventFormatter:
    """Builds the --events JSON lines of one connection, fast enough for ~200k events/s.

    Records in one stream nearly always share their keys and value types, so everything that
    depends only on those (the keys' JSON, record_types, the check that keys are str) is
    computed once per shape and cached. When every value is a str or bin, the quotes around
    the base64 values are part of the cached key fragments.
    """

    def __init__(self, conn_number):
        self.conn_number = conn_number
        self.shapes = {}

    def lines(self, tag, fmt, entries, chunk, msg_number):
        head = b'{"tag":%s,"time":[' % _json_bytes(tag)
        tail = b',"format":"%s","chunk":%s,"conn":%d,"msg":%d}' % (
            fmt.encode(), _json_bytes(chunk), self.conn_number, msg_number)
        b2a = binascii.b2a_base64
        lines = []
        for (seconds, nanos, time_type), record in entries:
            values = record.values()
            key = (tuple(record), tuple(map(type, values)))
            shape = self.shapes.get(key) or self.new_shape(key)
            prefixes, middle, blobs_only = shape
            if blobs_only:
                fragments = [b2a(v.encode("utf-8", "surrogateescape") if type(v) is str else v,
                                 newline=False) for v in values]
            else:
                fragments = [_json_value(v) for v in values]
            lines.append(b"%s%d,%d%s%s%s%s" % (
                head, seconds, nanos, _TIME_TYPE_JSON[time_type],
                b"".join(map(operator.add, prefixes, fragments)), middle, tail))
        return lines

    def new_shape(self, key):
        keys, types = key
        for name in keys:
            if type(name) is not str:
                raise ProtocolError(f"record key must be str, got {msgpack_type(name)}: {name!r}")
        names = [_json_bytes(name) for name in keys]
        blobs_only = bool(keys) and all(kind is str or kind is bytes for kind in types)
        if blobs_only:
            prefixes = [b'%s%s:"' % (b'",' if i else b"", name)
                        for i, name in enumerate(names)]
            middle = b'"},"record_types":{'
        else:
            prefixes = [b"%s%s:" % (b"," if i else b"", name) for i, name in enumerate(names)]
            middle = b'},"record_types":{'
        middle += b",".join(b'%s:"%s"' % (name, TYPE_NAMES[kind].encode())
                            for name, kind in zip(names, types)) + b"}"
        if len(self.shapes) >= SHAPE_CACHE_LIMIT:
            self.shapes.clear()
        self.shapes[key] = (prefixes, middle, blobs_only)
        return self.shapes[key]


def random_invalid_utf8(count):
    """Random bytes that are not valid UTF-8, as a real server's nonce usually is not."""
    while True:
        data = os.urandom(count)
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return data


def hexdigest(*parts):
    return hashlib.sha512(b"".join(parts)).hexdigest().encode("ascii")


# use_bin_type=False packs bytes as msgpack str: how a server sends raw-byte nonces and acks.
pack_bytes_as_str = msgpack.Packer(use_bin_type=False).pack
pack = msgpack.Packer(use_bin_type=True).pack


class Connection:
    def __init__(self, sock, number):
        self.sock = sock
        self.number = number
        self.send_lock = threading.Lock()
        self.wake = threading.Event()  # ends a stall: set by kill() and by SIGUSR2
        self.killed = False
        self.delayed_acks = None
        self.formatter = EventFormatter(number)

    def send(self, data):
        with self.send_lock:
            self.sock.sendall(data)

    def kill(self):
        """Abrupt close from any thread: wakes the reader, and close() will send a RST."""
        self.killed = True
        self.wake.set()
        try:
            if self.sock.family != socket.AF_UNIX:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            # The plain-socket shutdown: SSLSocket.shutdown would drop its TLS state under
            # the reader thread. SHUT_RD wakes a blocked recv without sending a FIN.
            socket.socket.shutdown(self.sock, socket.SHUT_RD)
        except OSError:
            pass

    def close(self):
        if self.delayed_acks is not None:
            self.delayed_acks.put(None)
        try:
            self.sock.close()
        except OSError:
            pass


class Receiver:
    def __init__(self, args):
        self.args = args
        self.users = dict(user.split(":", 1) for user in args.user)
        self.events_file = open(args.events, "ab") if args.events else None
        self.events_lock = threading.Lock()
        self.stats = {"connections": 0, "messages": 0, "events": 0, "acks_sent": 0,
                      "errors": 0, "auth_failures": 0}
        self.stats_lock = threading.Lock()
        self.connections = {}  # number -> Connection; plain dict ops are atomic under the GIL
        self.dropped_once = False
        self.stalls_ended = False
        self.tls = None
        if args.tls_cert:
            self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.tls.load_cert_chain(args.tls_cert, args.tls_key)
            if args.tls_client_ca:
                self.tls.verify_mode = ssl.CERT_REQUIRED
                self.tls.load_verify_locations(args.tls_client_ca)

    def count(self, key, amount=1):
        with self.stats_lock:
            self.stats[key] += amount

    def record(self, lines):
        if self.events_file is None or not lines:
            return
        with self.events_lock:
            self.events_file.write(b"\n".join(lines) + b"\n")
            self.events_file.flush()

    def report(self, conn, kind, text, msg_number=None):
        print(f"{'PROTOCOL ERROR' if kind == 'error' else 'AUTH FAILED'}: "
              f"conn {conn.number}: {text}", file=sys.stderr, flush=True)
        self.count("errors" if kind == "error" else "auth_failures")
        self.record([_json_bytes({kind: text, "conn": conn.number, "msg": msg_number})])

    # --- one connection, on its own thread --------------------------------------------

    def serve(self, conn):
        self.connections[conn.number] = conn
        self.count("connections")
        msg_number = None
        try:
            if self.tls is not None:
                conn.sock = self.tls.wrap_socket(conn.sock, server_side=True,
                                                 do_handshake_on_connect=False)
                conn.sock.do_handshake()
            messages = self.read_objects(conn)
            if self.args.shared_key is not None and not self.handshake(conn, messages):
                return
            for msg_number, msg in enumerate(messages, start=1):
                if not self.handle(conn, msg, msg_number):
                    return
        except ProtocolError as error:
            self.report(conn, "error", str(error), msg_number)
        except (ValueError, msgpack.UnpackException) as error:
            self.report(conn, "error", f"malformed msgpack: {error!r}", msg_number)
        except (OSError, ssl.SSLError) as error:
            if not conn.killed:
                print(f"forward_receiver: conn {conn.number}: {error!r}", file=sys.stderr,
                      flush=True)
        finally:
            self.connections.pop(conn.number, None)
            conn.close()

    def read_objects(self, conn):
        """Yields the msgpack objects of the stream, however the bytes are split into reads."""
        unpacker = make_unpacker()
        buffer = bytearray(RECV_SIZE)
        view = memoryview(buffer)
        while not conn.killed:
            yield from unpacker
            received = conn.sock.recv_into(buffer)
            if received == 0:
                return
            unpacker.feed(view[:received])

    def handshake(self, conn, messages):
        nonce = random_invalid_utf8(HELO_RANDOM_BYTES)
        auth = random_invalid_utf8(HELO_RANDOM_BYTES) if self.users else b""
        conn.send(pack_bytes_as_str(["HELO", {"nonce": nonce, "auth": auth, "keepalive": True}]))

        ping = next(messages, None)
        if ping is None:
            return False
        if type(ping) is not list or len(ping) != 6:
            raise ProtocolError(f"expected PING of 6 items, got {to_json(ping)!r:.200}")
        names = ("type", "self_hostname", "shared_key_salt", "shared_key_digest",
                 "username", "password_digest")
        for name, field in zip(names, ping):
            if type(field) is not str:  # Fluent Bit closes the connection on a bin field
                raise ProtocolError(f"PING {name} must be str, got {msgpack_type(field)}")
        if ping[0] != "PING":
            raise ProtocolError(f"expected PING, got {ping[0]!r}")
        hostname, salt, key_digest, username, password_digest = map(wire_bytes, ping[1:])
        shared_key = self.args.shared_key.encode()

        if key_digest != hexdigest(salt, hostname, nonce, shared_key):
            return self.refuse(conn, "shared_key mismatch")
        if self.users:
            password = self.users.get(username.decode("utf-8", "replace"))
            if password is None or password_digest != hexdigest(auth, username, password.encode()):
                return self.refuse(conn, "username/password mismatch")
        elif username or password_digest:
            raise ProtocolError("PING carries a username/password but the server asked for none")

        server_hostname = self.args.server_hostname.encode()
        digest = hexdigest(salt, server_hostname, nonce, shared_key)
        if self.args.bad_pong_digest:
            digest = hexdigest(b"not", digest)
        conn.send(pack_bytes_as_str(["PONG", True, "", server_hostname, digest]))
        return True

    def refuse(self, conn, reason):
        conn.send(pack(["PONG", False, reason, "", ""]))
        self.report(conn, "auth_failed", reason)
        return False

    def handle(self, conn, msg, msg_number):
        """Checks, records and acks one message; False once the connection must end."""
        tag, fmt, entries, chunk = decode_message(msg)
        self.record(conn.formatter.lines(tag, fmt, entries, chunk, msg_number))
        with self.stats_lock:
            self.stats["messages"] += 1
            self.stats["events"] += len(entries)

        args = self.args
        if args.drop_after == msg_number and (args.drop_every_conn or not self.dropped_once):
            self.dropped_once = True
            conn.kill()  # the events are recorded but never acked, as after a crash
            return False
        if chunk is not None and not args.no_ack:
            self.ack(conn, chunk)
        if args.stall_after == msg_number and not self.stalls_ended:
            conn.wake.wait()
        return not conn.killed

    def ack(self, conn, chunk):
        value = wire_bytes(chunk)
        payload = pack({"ack": value}) if self.args.ack_as_bin else pack_bytes_as_str({"ack": value})
        if self.args.ack_delay <= 0:
            self.count("acks_sent")  # before sending: a client may stop us once it has the ack
            conn.send(payload)
            return
        if conn.delayed_acks is None:
            conn.delayed_acks = queue.Queue()
            threading.Thread(target=self.send_delayed_acks, args=(conn,), daemon=True).start()
        conn.delayed_acks.put((time.monotonic() + self.args.ack_delay, payload))

    def send_delayed_acks(self, conn):
        # One thread per connection keeps delayed acks in order without blocking the reader.
        while True:
            item = conn.delayed_acks.get()
            if item is None:
                return
            due, payload = item
            time.sleep(max(0.0, due - time.monotonic()))
            if conn.killed:
                return
            self.count("acks_sent")
            try:
                conn.send(payload)
            except OSError:
                return

    # --- signals -------------------------------------------------------------------------

    def kill_all(self, *_):
        for conn in list(self.connections.values()):
            conn.kill()

    def end_stalls(self, *_):
        self.stalls_ended = True
        for conn in list(self.connections.values()):
            conn.wake.set()

    def finish(self):
        if self.events_file is not None:
            with self.events_lock:
                self.events_file.flush()
        if self.args.stats:
            with self.stats_lock:
                write_atomically(self.args.stats, json.dumps(self.stats) + "\n")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--listen", default="tcp:127.0.0.1:0", help="tcp:HOST:PORT or unix:PATH")
    p.add_argument("--port-file", help="written atomically with the port (or socket path)")
    p.add_argument("--events", help="append one JSON line per event (and per error)")
    p.add_argument("--stats", help="written with counters on SIGTERM/SIGINT")
    p.add_argument("--no-ack", action="store_true", help="never ack")
    p.add_argument("--ack-as-bin", action="store_true", help="send the ack value as bin")
    p.add_argument("--ack-delay", type=float, default=0.0, metavar="SECONDS")
    p.add_argument("--drop-after", type=int, metavar="N",
                   help="reset the connection after its Nth message, without acking it")
    p.add_argument("--drop-every-conn", action="store_true",
                   help="--drop-after applies to every connection, not just the first")
    p.add_argument("--stall-after", type=int, metavar="N",
                   help="stop reading a connection after its Nth message (until SIGUSR2)")
    p.add_argument("--shared-key", help="require the HELO/PING/PONG handshake")
    p.add_argument("--user", action="append", default=[], metavar="NAME:PASSWORD")
    p.add_argument("--server-hostname", default="forward-receiver")
    p.add_argument("--bad-pong-digest", action="store_true", help="send a wrong PONG digest")
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--tls-client-ca", help="require client certificates signed by this CA")
    args = p.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        p.error("--tls-cert and --tls-key go together")
    if args.tls_client_ca and not args.tls_cert:
        p.error("--tls-client-ca needs --tls-cert")
    if args.user and args.shared_key is None:
        p.error("--user needs --shared-key")
    return args


def main():
    args = parse_args()
    # Each event allocates a few containers; the default threshold (700) makes the cyclic
    # collector run so often that it halves throughput. There are few cycles to collect.
    gc.set_threshold(100_000, 50, 100)
    receiver = Receiver(args)
    listener, address = open_listener(args.listen)

    def shutdown(*_):
        raise Shutdown

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    signal.signal(signal.SIGUSR1, receiver.kill_all)
    signal.signal(signal.SIGUSR2, receiver.end_stalls)
    if args.port_file:
        write_atomically(args.port_file, address + "\n")

    numbers = itertools.count(1)
    try:
        for sock in accept_forever(listener):
            if sock.family != socket.AF_UNIX:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = Connection(sock, next(numbers))
            threading.Thread(target=receiver.serve, args=(conn,), daemon=True).start()
    except Shutdown:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        listener.close()
        if args.listen.startswith("unix:"):
            os.unlink(address)
        receiver.finish()


if __name__ == "__main__":
    main()
