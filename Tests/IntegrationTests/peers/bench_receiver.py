#!/usr/bin/env python3
"""Fast, discarding forward receiver for Spillway's benchmark.

Only the outer PackedForward framing `[tag, bin-or-str entries, option]` is parsed, by hand:
the entries are skipped as they arrive, never buffered or decoded, so events are counted
from the option's "size" (gzip-compressed messages alike). Every chunk is acked as str.
On SIGTERM/SIGINT the totals go to --count-file and the process exits 0.
"""
import argparse
import json
import queue
import signal
import struct
import sys
import threading
import time

from peerlib import accept_forever, open_listener, write_atomically

BUFFER_SIZE = 4 * 1024 * 1024


class NeedMore(Exception):
    """The object at this position is not complete in the buffer yet."""


class BadFraming(Exception):
    pass


_FIXED = {0xC0: None, 0xC2: False, 0xC3: True}
_INTS = {0xCC: ">B", 0xCD: ">H", 0xCE: ">I", 0xCF: ">Q",
         0xD0: ">b", 0xD1: ">h", 0xD2: ">i", 0xD3: ">q", 0xCA: ">f", 0xCB: ">d"}
_LENGTHS = {1: ">B", 2: ">H", 4: ">I"}


def _take(buf, pos, end, size):
    if pos + size > end:
        raise NeedMore
    return pos + size


def _length(buf, pos, end, width):
    stop = _take(buf, pos, end, width)
    return struct.unpack_from(_LENGTHS[width], buf, pos)[0], stop


def blob_header(buf, pos, end):
    """The header of a bin or str: returns (payload length, payload start)."""
    if pos >= end:
        raise NeedMore
    first = buf[pos]
    if 0xA0 <= first <= 0xBF:
        return first & 0x1F, pos + 1
    widths = {0xC4: 1, 0xC5: 2, 0xC6: 4, 0xD9: 1, 0xDA: 2, 0xDB: 4}
    if first not in widths:
        raise BadFraming(f"expected bin or str, got type byte {first:#04x}")
    return _length(buf, pos + 1, end, widths[first])


def decode(buf, pos, end):
    """Decodes one small msgpack object (tag, option map); str and bin both become bytes."""
    if pos >= end:
        raise NeedMore
    first = buf[pos]
    pos += 1
    if first <= 0x7F:
        return first, pos
    if first >= 0xE0:
        return first - 0x100, pos
    if first in _FIXED:
        return _FIXED[first], pos
    if first in _INTS:
        fmt = _INTS[first]
        stop = _take(buf, pos, end, struct.calcsize(fmt))
        return struct.unpack_from(fmt, buf, pos)[0], stop
    if 0x80 <= first <= 0x8F or first in (0xDE, 0xDF):
        count, pos = (first & 0x0F, pos) if first <= 0x8F else \
            _length(buf, pos, end, 2 if first == 0xDE else 4)
        result = {}
        for _ in range(count):
            key, pos = decode(buf, pos, end)
            result[key], pos = decode(buf, pos, end)
        return result, pos
    if 0x90 <= first <= 0x9F or first in (0xDC, 0xDD):
        count, pos = (first & 0x0F, pos) if first <= 0x9F else \
            _length(buf, pos, end, 2 if first == 0xDC else 4)
        result = []
        for _ in range(count):
            item, pos = decode(buf, pos, end)
            result.append(item)
        return result, pos
    if 0xD4 <= first <= 0xD8:  # fixext: a type byte and 1..16 data bytes
        stop = _take(buf, pos, end, 1 + (1 << (first - 0xD4)))
        return bytes(buf[pos:stop]), stop
    if first in (0xC7, 0xC8, 0xC9):
        size, pos = _length(buf, pos, end, {0xC7: 1, 0xC8: 2, 0xC9: 4}[first])
        stop = _take(buf, pos, end, 1 + size)
        return bytes(buf[pos:stop]), stop
    size, pos = blob_header(buf, pos - 1, end)
    stop = _take(buf, pos, end, size)
    return bytes(buf[pos:stop]), stop


def str_header(size):
    if size < 32:
        return bytes([0xA0 | size])
    if size < 256:
        return bytes([0xD9, size])
    if size < 65536:
        return b"\xda" + struct.pack(">H", size)
    return b"\xdb" + struct.pack(">I", size)


class Counter:
    def __init__(self):
        self.lock = threading.Lock()
        self.totals = {"connections": 0, "messages": 0, "events": 0, "bytes": 0, "acks_sent": 0}

    def add(self, **amounts):
        with self.lock:
            for key, amount in amounts.items():
                self.totals[key] += amount


def send_delayed_acks(sock, acks):
    """Sends each ack when it is due, in order, without holding up the reader."""
    while True:
        item = acks.get()
        if item is None:
            return
        due, payload = item
        time.sleep(max(0.0, due - time.monotonic()))
        try:
            sock.sendall(payload)
        except OSError:
            return


def serve(sock, counter, ack_delay=0.0):
    """Reads one connection: head (array, tag, entries header), skip entries, option map.
    With `ack_delay`, each ack goes out that long after its message (an aggregator that writes
    its chunk before it acks)."""
    counter.add(connections=1)
    acks = None
    if ack_delay > 0:
        acks = queue.Queue()
        threading.Thread(target=send_delayed_acks, args=(sock, acks), daemon=True).start()
    buf = bytearray(BUFFER_SIZE)
    start = end = 0     # unparsed data is buf[start:end]
    skip = 0            # entries bytes of the current message still to discard
    in_message = False  # the current message's head is parsed; its option map is next
    try:
        while True:
            if start == end:
                start = end = 0
            elif end == len(buf):  # keep the partial object, make room after it
                if start == 0:
                    buf.extend(bytes(len(buf)))
                else:
                    buf[:end - start] = buf[start:end]
                    start, end = 0, end - start
            received = sock.recv_into(memoryview(buf)[end:])
            if received == 0:
                return
            end += received
            counter.add(bytes=received)
            while start < end:
                if skip:
                    taken = min(skip, end - start)
                    start += taken
                    skip -= taken
                    continue
                try:
                    if not in_message:
                        if buf[start] != 0x93:
                            raise BadFraming(f"expected [tag, entries, option], got type byte "
                                             f"{buf[start]:#04x} (only PackedForward is supported)")
                        _, pos = decode(buf, start + 1, end)   # tag
                        skip, start = blob_header(buf, pos, end)
                        in_message = True
                        continue
                    option, start = decode(buf, start, end)
                except NeedMore:
                    break
                in_message = False
                size = option.get(b"size") if isinstance(option, dict) else None
                if not isinstance(size, int):
                    raise BadFraming(f"option has no int size: {option!r}")
                chunk = option.get(b"chunk")
                # Counted before the ack goes out: a client may stop us as soon as it reads it.
                counter.add(messages=1, events=size, acks_sent=int(chunk is not None))
                if chunk is not None:
                    ack = b"\x81\xa3ack" + str_header(len(chunk)) + chunk
                    if acks is None:
                        sock.sendall(ack)
                    else:
                        acks.put((time.monotonic() + ack_delay, ack))
    except BadFraming as error:
        print(f"bench_receiver: {error}", file=sys.stderr, flush=True)
    except OSError:
        pass
    finally:
        if acks is not None:
            acks.put(None)
        sock.close()


class Shutdown(BaseException):
    pass


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--listen", default="tcp:127.0.0.1:0", help="tcp:HOST:PORT or unix:PATH")
    p.add_argument("--port-file", help="written atomically with the port (or socket path)")
    p.add_argument("--count-file", help="totals as JSON, written on SIGTERM/SIGINT")
    p.add_argument("--ack-delay", type=float, default=0.0, metavar="SECONDS", help="send each ack this much later")
    args = p.parse_args()

    counter = Counter()
    listener, address = open_listener(args.listen)

    def shutdown(*_):
        raise Shutdown

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    if args.port_file:
        write_atomically(args.port_file, address + "\n")
    try:
        for sock in accept_forever(listener):
            threading.Thread(target=serve, args=(sock, counter, args.ack_delay), daemon=True).start()
    except Shutdown:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if args.count_file:
            with counter.lock:
                write_atomically(args.count_file, json.dumps(counter.totals) + "\n")


if __name__ == "__main__":
    main()
