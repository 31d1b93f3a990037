import CSpillwayZlib
import NIOCore
import SpillwayCore
import SpillwayTestKit
import Testing

@testable import SpillwayForward

// Expected bytes are spelled out here with a deliberately dumb helper, independent of the encoder.

/// A fixstr (< 32 bytes).
func fixstr(_ s: String) -> [UInt8] {
    let b = Array(s.utf8)
    precondition(b.count < 32)
    return [0xA0 | UInt8(b.count)] + b
}

func bytes(_ buffer: ByteBuffer) -> [UInt8] {
    Array(buffer.readableBytesView)
}

/// 1700000000.123456789: seconds 0x6553F100, nanoseconds 0x075BCD15.
let knownTime = Timestamp(nanoseconds: 1_700_000_000_123_456_789)
let eventTimeBytes: [UInt8] = [0xD7, 0x00, 0x65, 0x53, 0xF1, 0x00, 0x07, 0x5B, 0xCD, 0x15]

func record(_ line: String, _ stream: LogStream = .stdout, time: Timestamp = knownTime,
            partial: PartialInfo? = nil) -> LogRecord {
    LogRecord(time: time, stream: stream, line: ArraySlice(Array(line.utf8)), partial: partial)
}

func encoder(containerID: String? = nil, extra: [(name: String, value: String)] = [],
             timeAsInteger: Bool = false, gzip: Bool = false) -> ForwardEncoder {
    ForwardEncoder(tag: "app",
                   fields: RecordFields(containerName: "web", containerID: containerID,
                                        extra: extra.map { RecordFields.Field(name: $0.name, value: $0.value) }),
                   timeAsInteger: timeAsInteger, compressGzip: gzip)
}

/// The entries of one record, as written by `writeEntries`.
func entries(_ enc: ForwardEncoder, _ records: [LogRecord]) -> [UInt8] {
    let size = enc.entriesSize(records)
    let out = [UInt8](unsafeUninitializedCapacity: size) { buf, n in
        n = enc.writeEntries(records, to: UnsafeMutableRawPointer(buf.baseAddress!))
    }
    #expect(out.count == size)
    return out
}

@Suite struct EncoderTests {
    @Test func completeRecordWithEventTime() throws {
        let got = entries(encoder(), [record("hello")])
        let expected: [UInt8] = [0x92] + eventTimeBytes + [0x83]
            + fixstr("log") + fixstr("hello")
            + fixstr("source") + fixstr("stdout")
            + [0xAE] + Array("container_name".utf8) + fixstr("web")
        #expect(got == expected)
    }

    @Test func stderrRecordWithIntegerTime() throws {
        let got = entries(encoder(timeAsInteger: true), [record("oops", .stderr)])
        let expected: [UInt8] = [0x92, 0xCE, 0x65, 0x53, 0xF1, 0x00, 0x83]
            + fixstr("log") + fixstr("oops")
            + fixstr("source") + fixstr("stderr")
            + fixstr("container_name") + fixstr("web")
        #expect(got == expected)
    }

    @Test func integerTimeUsesShortestEncoding() throws {
        let enc = encoder(timeAsInteger: true)
        let small = entries(enc, [record("", time: Timestamp(nanoseconds: 5_000_000_000))])
        #expect(Array(small[0..<2]) == [0x92, 0x05])
        let beyond32 = entries(enc, [record("", time: Timestamp(nanoseconds: 5_000_000_000 * 1_000_000_000))])
        #expect(Array(beyond32[0..<3]) == [0x92, 0xCF, 0x00])
        let negative = entries(enc, [record("", time: Timestamp(nanoseconds: -1))])
        #expect(Array(negative[0..<2]) == [0x92, 0xFF])
    }

    @Test func containerIDAndExtraFields() throws {
        let enc = encoder(containerID: "abc123", extra: [("env", "prod"), ("team", "x")])
        let got = entries(enc, [record("hi")])
        let expected: [UInt8] = [0x92] + eventTimeBytes + [0x86]
            + fixstr("log") + fixstr("hi")
            + fixstr("source") + fixstr("stdout")
            + fixstr("container_name") + fixstr("web")
            + fixstr("container_id") + fixstr("abc123")
            + fixstr("env") + fixstr("prod")
            + fixstr("team") + fixstr("x")
        #expect(got == expected)
    }

    @Test func partialRecord() throws {
        let id = PartialID(high: 0x0123_4567_89AB_CDEF, low: 0xFEDC_BA98_7654_3210)
        let middle = record("abc", partial: PartialInfo(id: id, ordinal: 12, isLast: false))
        let got = entries(encoder(), [middle])
        let partialFields: [UInt8] = fixstr("partial_message") + fixstr("true")
            + fixstr("partial_id") + [0xD9, 32] + Array("0123456789abcdeffedcba9876543210".utf8)
            + fixstr("partial_ordinal") + fixstr("12")
            + fixstr("partial_last") + fixstr("false")
        let expected: [UInt8] = [0x92] + eventTimeBytes + [0x87]
            + fixstr("log") + fixstr("abc")
            + fixstr("source") + fixstr("stdout")
            + fixstr("container_name") + fixstr("web")
            + partialFields
        #expect(got == expected)
        #expect(id.hex == "0123456789abcdeffedcba9876543210")

        let last = record("d", partial: PartialInfo(id: id, ordinal: 1_000_000_000, isLast: true))
        let tail = entries(encoder(), [last]).suffix(fixstr("1000000000").count + fixstr("partial_last").count + fixstr("true").count)
        #expect(Array(tail) == fixstr("1000000000") + fixstr("partial_last") + fixstr("true"))
    }

    @Test func invalidUTF8LineIsSentUnchangedAsStr() throws {
        let line: [UInt8] = [0xFF, 0xFE, 0x41, 0xC3]
        let r = LogRecord(time: knownTime, stream: .stdout, line: ArraySlice(line))
        let got = entries(encoder(), [r])
        let logAt = 1 + eventTimeBytes.count + 1
        #expect(Array(got[logAt..<(logAt + 4 + 5)]) == fixstr("log") + [0xA4] + line)
    }

    @Test func lineSlicesOfASharedArray() throws {
        let shared = Array("one\ntwo\n".utf8)
        let records = [
            LogRecord(time: knownTime, stream: .stdout, line: shared[0..<3]),
            LogRecord(time: knownTime, stream: .stdout, line: shared[4..<7]),
        ]
        let got = entries(encoder(), records)
        let one = entries(encoder(), [record("one")])
        let two = entries(encoder(), [record("two")])
        #expect(got == one + two)
    }

    @Test(arguments: [
        (31, [0xBF] as [UInt8]), (32, [0xD9, 0x20]), (255, [0xD9, 0xFF]), (256, [0xDA, 0x01, 0x00]),
        (65535, [0xDA, 0xFF, 0xFF]), (65536, [0xDB, 0x00, 0x01, 0x00, 0x00]),
    ])
    func strHeaderBoundaries(length: Int, header: [UInt8]) throws {
        var appended: [UInt8] = []
        MsgPack.appendStrHeader(length, to: &appended)
        #expect(appended == header)
        #expect(MsgPack.strHeaderSize(length) == header.count)
        // The hot-path writer, through a whole record.
        let line = String(repeating: "x", count: length)
        let got = entries(encoder(), [record(line)])
        let logAt = 1 + eventTimeBytes.count + 1 + 4
        #expect(Array(got[logAt..<(logAt + header.count)]) == header)
        #expect(got.count == encoder().entriesSize([record(line)]))
        // And back.
        let parsed = try #require(try MsgPackParser().parse(appended + Array(line.utf8)))
        #expect(parsed.0 == .str(Array(line.utf8)))
        #expect(parsed.1 == header.count + length)
    }

    @Test(arguments: [
        (31, [0xC4, 0x1F] as [UInt8]), (32, [0xC4, 0x20]), (255, [0xC4, 0xFF]), (256, [0xC5, 0x01, 0x00]),
        (65535, [0xC5, 0xFF, 0xFF]), (65536, [0xC6, 0x00, 0x01, 0x00, 0x00]),
    ])
    func binHeaderBoundaries(length: Int, header: [UInt8]) throws {
        var appended: [UInt8] = []
        MsgPack.appendBinHeader(length, to: &appended)
        #expect(appended == header)
        #expect(MsgPack.binHeaderSize(length) == header.count)
        var raw = [UInt8](repeating: 0, count: 8)
        let n = raw.withUnsafeMutableBytes { MsgPack.writeBinHeader(length, at: $0.baseAddress!) }
        #expect(Array(raw[0..<n]) == header)
        let payload = [UInt8](repeating: 7, count: length)
        let parsed = try #require(try MsgPackParser(maxLength: 1 << 20).parse(appended + payload))
        #expect(parsed.0 == .bin(payload))
    }

    @Test func intEncodings() throws {
        let cases: [(Int64, [UInt8])] = [
            (0, [0x00]), (127, [0x7F]), (128, [0xCC, 0x80]), (255, [0xCC, 0xFF]), (256, [0xCD, 0x01, 0x00]),
            (65535, [0xCD, 0xFF, 0xFF]), (65536, [0xCE, 0x00, 0x01, 0x00, 0x00]),
            (4_294_967_296, [0xCF, 0, 0, 0, 1, 0, 0, 0, 0]),
            (-1, [0xFF]), (-32, [0xE0]), (-33, [0xD0, 0xDF]), (-129, [0xD1, 0xFF, 0x7F]),
            (-32769, [0xD2, 0xFF, 0xFF, 0x7F, 0xFF]),
        ]
        for (v, expected) in cases {
            var out: [UInt8] = []
            MsgPack.appendInt(v, to: &out)
            #expect(out == expected, "\(v)")
            #expect(MsgPack.intSize(v) == expected.count, "\(v)")
        }
    }

    @Test func packedForwardMessageWithChunk() throws {
        let enc = encoder()
        let chunk = Array("AAECAwQFBgcICQoLDA0ODw==".utf8)
        let message = bytes(try enc.encodeMessage([record("hello"), record("x", .stderr)], chunk: chunk))
        let body = entries(enc, [record("hello"), record("x", .stderr)])
        let expected: [UInt8] = [0x93] + fixstr("app") + [0xC4, UInt8(body.count)] + body
            + [0x82] + fixstr("size") + [0x02] + fixstr("chunk") + [0xB8] + chunk
        #expect(message == expected)
    }

    @Test func packedForwardMessageWithoutAck() throws {
        let enc = encoder()
        let message = bytes(try enc.encodeMessage([record("hello")], chunk: nil))
        let body = entries(enc, [record("hello")])
        let expected: [UInt8] = [0x93] + fixstr("app") + [0xC4, UInt8(body.count)] + body
            + [0x81] + fixstr("size") + [0x01]
        #expect(message == expected)
    }

    @Test func largeMessageUsesBin32() throws {
        let enc = encoder()
        let line = String(repeating: "y", count: 70_000)
        let message = bytes(try enc.encodeMessage([record(line)], chunk: nil))
        let headerAt = 1 + 4
        #expect(message[headerAt] == 0xC6)
        let parsed = try #require(try MsgPackParser().parse(message))
        #expect(parsed.1 == message.count)
    }

    @Test func gzipRoundTrip() throws {
        let records = (0..<500).map { record("line number \($0) of a test that repeats itself", $0 % 3 == 0 ? .stderr : .stdout) }
        let plain = entries(encoder(), records)
        let chunk = Array("AAECAwQFBgcICQoLDA0ODw==".utf8)
        let message = bytes(try encoder(gzip: true).encodeMessage(records, chunk: chunk))
        let (value, used) = try #require(try MsgPackParser().parse(message))
        #expect(used == message.count)
        let parts = try #require(value.arrayValue)
        #expect(parts.count == 3)
        #expect(parts[0] == .str(Array("app".utf8)))
        guard case .bin(let compressed) = parts[1] else {
            Issue.record("entries are not bin")
            return
        }
        #expect(compressed.count < plain.count / 4)
        #expect(Array(compressed[0..<3]) == [0x1F, 0x8B, 0x08])  // gzip magic, deflate
        #expect(try gunzip(compressed) == plain)
        #expect(parts[2]["size"] == .uint(500))
        #expect(parts[2]["chunk"] == .str(chunk))
        #expect(parts[2]["compressed"] == .str(Array("gzip".utf8)))
    }

    @Test func gzipOfNothing() throws {
        var out: [UInt8] = []
        try [UInt8]().withUnsafeBytes { try Gzip.compress($0, appendingTo: &out) }
        #expect(try gunzip(out) == [])
    }

    @Test func batchLimitsKeepMessagesUnderTheTarget() throws {
        let options = ForwardSinkOptions(tag: "app", fields: RecordFields(
                                            containerName: "web", containerID: "0123456789abcdef",
                                            extra: [.init(name: "env", value: "production")]), maxMessageBytes: 64 * 1024)
        let sink = try ForwardSink(options: options, diagnostics: RecordingDiagnostics())
        defer { sink.shutdownSync() }
        let limits = sink.batchLimits
        #expect(limits.maxRecords >= 100_000)
        #expect(limits.maxBytes < 64 * 1024)
        let enc = ForwardEncoder(options: options)
        for lineLength in [0, 1, 100, 1000, 16 * 1024] {
            // Fill a batch exactly as a batcher counting line bytes + bytesPerRecord would.
            var records: [LogRecord] = []
            var charged = 0
            while true {
                let cost = lineLength + limits.bytesPerRecord
                if charged + cost > limits.maxBytes { break }
                charged += cost
                records.append(record(String(repeating: "z", count: lineLength)))
            }
            let size = try enc.encodeMessage(records, chunk: Array("AAECAwQFBgcICQoLDA0ODw==".utf8)).readableBytes
            #expect(size <= 64 * 1024, "line length \(lineLength): \(size) bytes")
        }
    }

    @Test func base64Vectors() {
        let vectors: [(String, String)] = [
            ("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy"),
        ]
        for (input, output) in vectors {
            #expect(Base64.encode(Array(input.utf8)) == Array(output.utf8))
        }
        #expect(String(decoding: Base64.encode(Array(0..<16)), as: UTF8.self) == "AAECAwQFBgcICQoLDA0ODw==")
        #expect(String(decoding: Base64.encode([0xFB, 0xFF, 0xBF]), as: UTF8.self) == "+/+/")
    }

    @Test func hexAndRandom() {
        #expect(Hex.string([0x00, 0x0F, 0xA5, 0xFF]) == "000fa5ff")
        let a = randomBytes(16)
        let b = randomBytes(16)
        #expect(a.count == 16 && b.count == 16 && a != b)
        let salt = Handshake.makeSalt()
        #expect(salt.count == 32)
        #expect(salt.allSatisfy { Hex.digits.contains($0) })
    }
}

/// Inflates one gzip member with zlib (windowBits 15 + 16: gzip only).
func gunzip(_ input: [UInt8]) throws -> [UInt8] {
    var stream = z_stream()
    guard inflateInit2_(&stream, 15 + 16, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
        throw GzipError(description: "inflateInit2")
    }
    defer { inflateEnd(&stream) }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    var input = input
    var rc: Int32 = Z_OK
    try input.withUnsafeMutableBufferPointer { inBuf in
        stream.next_in = inBuf.baseAddress
        stream.avail_in = uInt(inBuf.count)
        repeat {
            let produced: Int = chunk.withUnsafeMutableBufferPointer { outBuf in
                stream.next_out = outBuf.baseAddress
                stream.avail_out = uInt(outBuf.count)
                rc = inflate(&stream, Z_NO_FLUSH)
                return outBuf.count - Int(stream.avail_out)
            }
            out += chunk[0..<produced]
            if rc != Z_OK && rc != Z_STREAM_END { throw GzipError(description: "inflate \(rc)") }
        } while rc != Z_STREAM_END
    }
    return out
}

@Suite struct MessagePackHeaderTests {
    @Test(arguments: [0, 1, 15, 16, 31, 32, 255, 256, 65535, 65536, 1 << 20])
    func sizeAndBytesAgreeForEveryKind(_ n: Int) {
        for (header, fixLimit) in [(MsgPack.Header.str, 32), (.bin, 0), (.array, 16), (.map, 16)] {
            var bytes: [UInt8] = []
            header.append(n, to: &bytes)
            #expect(bytes.count == header.size(n))
            let expected = n < fixLimit ? 1 : (n < 256 && header.bits8 != nil) ? 2 : n < 65536 ? 3 : 5
            #expect(bytes.count == expected)
            if bytes.count == 1 { #expect(bytes[0] == header.fix! | UInt8(n)) }
        }
    }
}
