import NIOCore
import SpillwayCore

/// Encodes batches as forward-protocol messages.
///
/// One batch is one PackedForward message `[tag, bin(entries), {"size": n, "chunk": id}]`, or with
/// gzip one CompressedPackedForward message (`"compressed": "gzip"`). Each entry is
/// `[time, record]` and every record value is a msgpack str, as Docker's fluentd driver sends:
/// `log` (the line's bytes unchanged), `source`, `container_name`, `container_id` (if set), the
/// extra fields, and on pieces of a cut line `partial_message`, `partial_id`, `partial_ordinal`,
/// `partial_last`.
///
/// The hot path computes the exact encoded size first and then writes with raw stores into one
/// buffer: no allocation per record. Everything that is the same for every record of a stream
/// (`source` through the extra fields) is encoded once, in `init`.
struct ForwardEncoder: Sendable {
    let tag: [UInt8]
    let timeAsInteger: Bool
    let compressGzip: Bool
    /// Pre-encoded key/value pairs after `log`, by `LogStream.rawValue`.
    let constantFields: [[UInt8]]
    /// Map entries of a complete record: `log` + the constant ones.
    let baseFieldCount: Int

    /// Map key `log`: fixstr of 3 bytes.
    static let logKey: [UInt8] = [0xA3, 0x6C, 0x6F, 0x67]
    /// `partial_message: "true"`, `partial_id` key and the str8 header of its 32 hex digits.
    static let partialHead: [UInt8] = {
        var b: [UInt8] = []
        MsgPack.appendStr("partial_message", to: &b)
        MsgPack.appendStr("true", to: &b)
        MsgPack.appendStr("partial_id", to: &b)
        MsgPack.appendStrHeader(32, to: &b)
        return b
    }()
    static let partialOrdinalKey: [UInt8] = {
        var b: [UInt8] = []
        MsgPack.appendStr("partial_ordinal", to: &b)
        return b
    }()
    static let partialLastTrue: [UInt8] = {
        var b: [UInt8] = []
        MsgPack.appendStr("partial_last", to: &b)
        MsgPack.appendStr("true", to: &b)
        return b
    }()
    static let partialLastFalse: [UInt8] = {
        var b: [UInt8] = []
        MsgPack.appendStr("partial_last", to: &b)
        MsgPack.appendStr("false", to: &b)
        return b
    }()

    init(tag: String, fields record: RecordFields, timeAsInteger: Bool, compressGzip: Bool) {
        self.tag = Array(tag.utf8)
        self.timeAsInteger = timeAsInteger
        self.compressGzip = compressGzip
        var fields: [(String, String)] = [("container_name", record.containerName)]
        if let containerID = record.containerID { fields.append(("container_id", containerID)) }
        fields += record.extra.map { ($0.name, $0.value) }
        var parts: [[UInt8]] = []
        for stream in [LogStream.stdout, .stderr] {
            precondition(stream.rawValue == parts.count)
            var b: [UInt8] = []
            MsgPack.appendStr("source", to: &b)
            MsgPack.appendStr(stream.name, to: &b)
            for (k, v) in fields {
                MsgPack.appendStr(k, to: &b)
                MsgPack.appendStr(v, to: &b)
            }
            parts.append(b)
        }
        self.constantFields = parts
        self.baseFieldCount = 2 + fields.count
    }

    init(options: ForwardSinkOptions) {
        self.init(tag: options.tag, fields: options.fields, timeAsInteger: options.timeAsInteger,
                  compressGzip: options.compression == .gzip)
    }

    // MARK: sizes

    var timeSize: Int { timeAsInteger ? 5 : 10 }

    /// Encoded bytes of a record beyond its line's bytes, for a line shorter than 64 KiB and not a
    /// piece of a cut line: what `BatchLimits.bytesPerRecord` charges.
    var bytesPerRecordEstimate: Int {
        1 + timeSize + MsgPack.mapHeaderSize(baseFieldCount) + Self.logKey.count + 3
            + Swift.max(constantFields[0].count, constantFields[1].count)
    }

    /// Envelope of one message around its entries: array header, tag, bin header, option map.
    var messageOverheadEstimate: Int {
        1 + MsgPack.strHeaderSize(tag.count) + tag.count + 5 + 64
    }

    /// Bytes of the `[time, record]` pairs of `records`.
    func entriesSize(_ records: [LogRecord]) -> Int {
        let base = 1 + Self.logKey.count
        let partialFixed = Self.partialHead.count + 32 + Self.partialOrdinalKey.count + 1
        var total = 0
        for r in records {
            let n = r.line.count
            total &+= base &+ n &+ MsgPack.strHeaderSize(n) &+ constantFields[Int(r.stream.rawValue)].count
            if timeAsInteger {
                total &+= MsgPack.intSize(r.time.seconds)
            } else {
                total &+= 10
            }
            if let p = r.partial {
                total &+= MsgPack.mapHeaderSize(baseFieldCount + 4) + partialFixed + Self.decimalDigits(p.ordinal)
                    + (p.isLast ? Self.partialLastTrue.count : Self.partialLastFalse.count)
            } else {
                total &+= MsgPack.mapHeaderSize(baseFieldCount)
            }
        }
        return total
    }

    @inline(__always)
    static func decimalDigits(_ v: Int32) -> Int {
        var v = Swift.max(v, 0)
        var n = 1
        while v >= 10 { v /= 10; n += 1 }
        return n
    }

    // MARK: writing

    /// Writes the entries of `records` at `out`, which has room for `entriesSize(records)` bytes;
    /// returns the bytes written.
    func writeEntries(_ records: [LogRecord], to out: UnsafeMutableRawPointer) -> Int {
        let timeAsInteger = self.timeAsInteger
        let baseFieldCount = self.baseFieldCount
        return constantFields[0].withUnsafeBytes { c0 in
            constantFields[1].withUnsafeBytes { c1 in
                var o = 0
                records.withUnsafeBufferPointer { recs in
                    for i in recs.indices {
                        let p = out + o
                        // [time, record]
                        p.storeBytes(of: 0x92, as: UInt8.self)
                        var w = 1
                        let time = recs[i].time
                        if timeAsInteger {
                            w += MsgPack.writeInt(time.seconds, at: p + w)
                        } else {
                            (p + w).storeBytes(of: 0xD7, as: UInt8.self)
                            (p + w + 1).storeBytes(of: 0x00, as: UInt8.self)
                            MsgPack.storeBE32(UInt32(clamping: time.seconds), at: p + w + 2)
                            MsgPack.storeBE32(UInt32(truncatingIfNeeded: time.nanosecondOfSecond), at: p + w + 6)
                            w += 10
                        }
                        let partial = recs[i].partial
                        w += MsgPack.writeMapHeader(partial == nil ? baseFieldCount : baseFieldCount + 4, at: p + w)
                        // "log": the line's bytes as they are
                        (p + w).storeBytes(of: UInt32(0x676F_6CA3).littleEndian, as: UInt32.self)
                        w += 4
                        w += recs[i].line.withUnsafeBytes { line -> Int in
                            let h = MsgPack.writeStrHeader(line.count, at: p + w)
                            if line.count > 0 {
                                (p + w + h).copyMemory(from: line.baseAddress!, byteCount: line.count)
                            }
                            return h + line.count
                        }
                        let c = recs[i].stream == .stdout ? c0 : c1
                        (p + w).copyMemory(from: c.baseAddress!, byteCount: c.count)
                        w += c.count
                        if let partial {
                            w += Self.writePartial(partial, at: p + w)
                        }
                        o += w
                    }
                }
                return o
            }
        }
    }

    private static func copy(_ bytes: [UInt8], to p: UnsafeMutableRawPointer) -> Int {
        bytes.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        return bytes.count
    }

    private static func writePartial(_ partial: PartialInfo, at p: UnsafeMutableRawPointer) -> Int {
        var w = copy(partialHead, to: p)
        for (shift, word) in [(0, partial.id.high), (16, partial.id.low)] {
            for (i, digit) in Hex.digits(of: word).enumerated() {
                (p + w + shift + i).storeBytes(of: digit, as: UInt8.self)
            }
        }
        w += 32
        w += copy(partialOrdinalKey, to: p + w)
        let ordinal = Swift.max(partial.ordinal, 0)
        let digits = decimalDigits(ordinal)
        (p + w).storeBytes(of: 0xA0 | UInt8(digits), as: UInt8.self)
        var v = ordinal
        for i in stride(from: digits, to: 0, by: -1) {
            (p + w + i).storeBytes(of: UInt8(ascii: "0") + UInt8(v % 10), as: UInt8.self)
            v /= 10
        }
        w += 1 + digits
        w += copy(partial.isLast ? partialLastTrue : partialLastFalse, to: p + w)
        return w
    }

    /// The option map: `{"size": n, "chunk": id, "compressed": "gzip"}` (chunk only when given).
    func optionBytes(count: Int, chunk: [UInt8]?) -> [UInt8] {
        var b: [UInt8] = []
        MsgPack.appendMapHeader(1 + (chunk == nil ? 0 : 1) + (compressGzip ? 1 : 0), to: &b)
        MsgPack.appendStr("size", to: &b)
        MsgPack.appendInt(Int64(count), to: &b)
        if let chunk {
            MsgPack.appendStr("chunk", to: &b)
            MsgPack.appendStr(chunk, to: &b)
        }
        if compressGzip {
            MsgPack.appendStr("compressed", to: &b)
            MsgPack.appendStr("gzip", to: &b)
        }
        return b
    }

    /// One complete message for `records`; `chunk` is the ack id (nil without acks).
    func encodeMessage(_ records: [LogRecord], chunk: [UInt8]?,
                       allocator: ByteBufferAllocator = ByteBufferAllocator()) throws -> ByteBuffer {
        let entriesSize = self.entriesSize(records)
        let option = optionBytes(count: records.count, chunk: chunk)
        var head: [UInt8] = [0x93]
        MsgPack.appendStr(tag, to: &head)

        if compressGzip {
            let entries = [UInt8](unsafeUninitializedCapacity: entriesSize) { buf, n in
                n = writeEntries(records, to: UnsafeMutableRawPointer(buf.baseAddress!))
            }
            var compressed: [UInt8] = []
            try entries.withUnsafeBytes { try Gzip.compress($0, appendingTo: &compressed) }
            MsgPack.appendBinHeader(compressed.count, to: &head)
            var buffer = allocator.buffer(capacity: head.count + compressed.count + option.count)
            buffer.writeBytes(head)
            buffer.writeBytes(compressed)
            buffer.writeBytes(option)
            return buffer
        }

        MsgPack.appendBinHeader(entriesSize, to: &head)
        let total = head.count + entriesSize + option.count
        var buffer = allocator.buffer(capacity: total)
        buffer.writeBytes(head)
        let written = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: entriesSize) { raw in
            writeEntries(records, to: raw.baseAddress!)
        }
        precondition(written == entriesSize, "forward encoder: size \(entriesSize) computed, \(written) written")
        buffer.writeBytes(option)
        return buffer
    }
}
