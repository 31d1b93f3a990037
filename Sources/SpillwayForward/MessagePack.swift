import NIOCore

// The MessagePack subset the forward protocol needs, written by hand: an encoder with the
// shortest encodings (https://github.com/msgpack/msgpack/blob/master/spec.md) and a streaming
// decoder for what a receiver sends back (acks, HELO, PONG).

/// Appends MessagePack values to a byte array, always in their shortest form.
enum MsgPack {
    // MARK: sizes

    /// The markers of one kind of length header: its fix form (marker and exclusive limit), if
    /// it has one, then its 8-bit (if any), 16-bit and 32-bit forms. Every header is sized and
    /// written from these, so the size and the bytes cannot disagree.
    struct Header {
        let fix: UInt8?
        let fixLimit: Int
        let bits8: UInt8?
        let bits16: UInt8
        let bits32: UInt8

        @inline(__always) static var str: Header { Header(fix: 0xA0, fixLimit: 32, bits8: 0xD9, bits16: 0xDA, bits32: 0xDB) }
        @inline(__always) static var bin: Header { Header(fix: nil, fixLimit: 0, bits8: 0xC4, bits16: 0xC5, bits32: 0xC6) }
        @inline(__always) static var array: Header { Header(fix: 0x90, fixLimit: 16, bits8: nil, bits16: 0xDC, bits32: 0xDD) }
        @inline(__always) static var map: Header { Header(fix: 0x80, fixLimit: 16, bits8: nil, bits16: 0xDE, bits32: 0xDF) }

        /// Bytes of this header for a payload (or element count) of `n`.
        @inline(__always)
        func size(_ n: Int) -> Int {
            if fix != nil, n < fixLimit { return 1 }
            if bits8 != nil, n < 256 { return 2 }
            return n < 65536 ? 3 : 5
        }

        /// Writes the header; returns the bytes written (`size(n)`).
        @inline(__always)
        func write(_ n: Int, at p: UnsafeMutableRawPointer) -> Int {
            if let fix, n < fixLimit {
                p.storeBytes(of: fix | UInt8(truncatingIfNeeded: n), as: UInt8.self)
                return 1
            }
            if let bits8, n < 256 {
                p.storeBytes(of: bits8, as: UInt8.self)
                p.storeBytes(of: UInt8(truncatingIfNeeded: n), toByteOffset: 1, as: UInt8.self)
                return 2
            }
            if n < 65536 {
                p.storeBytes(of: bits16, as: UInt8.self)
                storeBE16(UInt16(truncatingIfNeeded: n), at: p + 1)
                return 3
            }
            p.storeBytes(of: bits32, as: UInt8.self)
            storeBE32(UInt32(truncatingIfNeeded: n), at: p + 1)
            return 5
        }

        func append(_ n: Int, to out: inout [UInt8]) {
            withUnsafeTemporaryAllocation(byteCount: 5, alignment: 1) { buffer in
                let count = write(n, at: buffer.baseAddress!)
                out.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[..<count]))
            }
        }
    }

    @inline(__always) static func strHeaderSize(_ count: Int) -> Int { Header.str.size(count) }
    @inline(__always) static func binHeaderSize(_ count: Int) -> Int { Header.bin.size(count) }
    @inline(__always) static func mapHeaderSize(_ count: Int) -> Int { Header.map.size(count) }

    @inline(__always)
    static func intSize(_ v: Int64) -> Int {
        if v >= 0 {
            if v < 128 { return 1 }
            if v < 256 { return 2 }
            if v < 65536 { return 3 }
            if v <= Int64(UInt32.max) { return 5 }
            return 9
        }
        if v >= -32 { return 1 }
        if v >= Int64(Int8.min) { return 2 }
        if v >= Int64(Int16.min) { return 3 }
        if v >= Int64(Int32.min) { return 5 }
        return 9
    }

    // MARK: appending to [UInt8] (cold paths: handshake, headers, pre-encoded constants)

    static func appendStr(_ bytes: some Collection<UInt8>, to out: inout [UInt8]) {
        appendStrHeader(bytes.count, to: &out)
        out.append(contentsOf: bytes)
    }

    static func appendStr(_ s: String, to out: inout [UInt8]) {
        appendStr(Array(s.utf8), to: &out)
    }

    static func appendBin(_ bytes: some Collection<UInt8>, to out: inout [UInt8]) {
        appendBinHeader(bytes.count, to: &out)
        out.append(contentsOf: bytes)
    }

    static func appendStrHeader(_ n: Int, to out: inout [UInt8]) { Header.str.append(n, to: &out) }
    static func appendBinHeader(_ n: Int, to out: inout [UInt8]) { Header.bin.append(n, to: &out) }
    static func appendArrayHeader(_ n: Int, to out: inout [UInt8]) { Header.array.append(n, to: &out) }
    static func appendMapHeader(_ n: Int, to out: inout [UInt8]) { Header.map.append(n, to: &out) }

    static func appendInt(_ v: Int64, to out: inout [UInt8]) {
        var tmp = [UInt8](repeating: 0, count: 9)
        let n = tmp.withUnsafeMutableBytes { writeInt(v, at: $0.baseAddress!) }
        out.append(contentsOf: tmp[0..<n])
    }

    static func appendBE<T: FixedWidthInteger>(_ v: T, to out: inout [UInt8]) {
        var be = v.bigEndian
        withUnsafeBytes(of: &be) { out.append(contentsOf: $0) }
    }

    // MARK: raw writers (hot path: the caller has reserved exactly enough room)

    @inline(__always)
    static func storeBE16(_ v: UInt16, at p: UnsafeMutableRawPointer) {
        p.storeBytes(of: v.bigEndian, as: UInt16.self)
    }

    @inline(__always)
    static func storeBE32(_ v: UInt32, at p: UnsafeMutableRawPointer) {
        p.storeBytes(of: v.bigEndian, as: UInt32.self)
    }

    @inline(__always)
    static func storeBE64(_ v: UInt64, at p: UnsafeMutableRawPointer) {
        p.storeBytes(of: v.bigEndian, as: UInt64.self)
    }

    /// Writes a header; returns the bytes written.
    @inline(__always)
    static func writeStrHeader(_ n: Int, at p: UnsafeMutableRawPointer) -> Int { Header.str.write(n, at: p) }
    @inline(__always)
    static func writeBinHeader(_ n: Int, at p: UnsafeMutableRawPointer) -> Int { Header.bin.write(n, at: p) }
    @inline(__always)
    static func writeMapHeader(_ n: Int, at p: UnsafeMutableRawPointer) -> Int { Header.map.write(n, at: p) }

    /// Writes an integer in its shortest encoding; returns the bytes written (`intSize(v)`).
    @inline(__always)
    static func writeInt(_ v: Int64, at p: UnsafeMutableRawPointer) -> Int {
        if v >= 0 {
            if v < 128 {
                p.storeBytes(of: UInt8(truncatingIfNeeded: v), as: UInt8.self)
                return 1
            }
            if v < 256 {
                p.storeBytes(of: 0xCC, as: UInt8.self)
                p.storeBytes(of: UInt8(truncatingIfNeeded: v), toByteOffset: 1, as: UInt8.self)
                return 2
            }
            if v < 65536 {
                p.storeBytes(of: 0xCD, as: UInt8.self)
                storeBE16(UInt16(truncatingIfNeeded: v), at: p + 1)
                return 3
            }
            if v <= Int64(UInt32.max) {
                p.storeBytes(of: 0xCE, as: UInt8.self)
                storeBE32(UInt32(truncatingIfNeeded: v), at: p + 1)
                return 5
            }
            p.storeBytes(of: 0xCF, as: UInt8.self)
            storeBE64(UInt64(truncatingIfNeeded: v), at: p + 1)
            return 9
        }
        if v >= -32 {
            p.storeBytes(of: UInt8(truncatingIfNeeded: v), as: UInt8.self)
            return 1
        }
        if v >= Int64(Int8.min) {
            p.storeBytes(of: 0xD0, as: UInt8.self)
            p.storeBytes(of: UInt8(truncatingIfNeeded: v), toByteOffset: 1, as: UInt8.self)
            return 2
        }
        if v >= Int64(Int16.min) {
            p.storeBytes(of: 0xD1, as: UInt8.self)
            storeBE16(UInt16(truncatingIfNeeded: v), at: p + 1)
            return 3
        }
        if v >= Int64(Int32.min) {
            p.storeBytes(of: 0xD2, as: UInt8.self)
            storeBE32(UInt32(truncatingIfNeeded: v), at: p + 1)
            return 5
        }
        p.storeBytes(of: 0xD3, as: UInt8.self)
        storeBE64(UInt64(truncatingIfNeeded: v), at: p + 1)
        return 9
    }
}

// MARK: - Decoding

/// A decoded MessagePack value. Strings stay bytes: a receiver may send raw random bytes as str.
enum MsgPackValue: Sendable, Equatable {
    case `nil`
    case bool(Bool)
    case int(Int64)
    case uint(UInt64)
    case float(Double)
    case str([UInt8])
    case bin([UInt8])
    case array([MsgPackValue])
    case map([MsgPackPair])
    case ext(type: Int8, data: [UInt8])

    /// The bytes of a str or bin value.
    var bytes: [UInt8]? {
        switch self {
        case .str(let b), .bin(let b): return b
        default: return nil
        }
    }

    var arrayValue: [MsgPackValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    /// Looks up a map entry whose key is the str or bin `key`.
    subscript(key: String) -> MsgPackValue? {
        guard case .map(let pairs) = self else { return nil }
        let k = Array(key.utf8)
        for pair in pairs where pair.key.bytes == k {
            return pair.value
        }
        return nil
    }
}

struct MsgPackPair: Sendable, Equatable {
    var key: MsgPackValue
    var value: MsgPackValue
}

struct MsgPackDecodingError: Error, CustomStringConvertible {
    var description: String
}

/// Parses one value from the front of a byte buffer, or reports that more bytes are needed.
struct MsgPackParser {
    /// A value (or a string or a container) larger than this is an error, not a reason to buffer.
    var maxLength: Int = 1 << 20
    var maxDepth: Int = 32

    private struct Incomplete: Error {}

    /// Returns the value and the bytes it took, nil if `bytes` holds only a prefix of a value.
    func parse(_ bytes: UnsafeRawBufferPointer) throws -> (MsgPackValue, Int)? {
        var cursor = 0
        do {
            let v = try value(bytes, &cursor, depth: 0)
            return (v, cursor)
        } catch is Incomplete {
            return nil
        }
    }

    func parse(_ bytes: [UInt8]) throws -> (MsgPackValue, Int)? {
        try bytes.withUnsafeBytes { try parse($0) }
    }

    private func need(_ n: Int, _ bytes: UnsafeRawBufferPointer, _ c: Int) throws {
        if bytes.count - c < n { throw Incomplete() }
    }

    private func u8(_ b: UnsafeRawBufferPointer, _ c: inout Int) throws -> UInt8 {
        try need(1, b, c)
        defer { c += 1 }
        return b[c]
    }

    private func be<T: FixedWidthInteger>(_ type: T.Type, _ b: UnsafeRawBufferPointer, _ c: inout Int) throws -> T {
        let size = MemoryLayout<T>.size
        try need(size, b, c)
        var v: T = 0
        for i in 0..<size { v = (v << 8) | T(b[c + i]) }
        c += size
        return v
    }

    private func raw(_ n: Int, _ b: UnsafeRawBufferPointer, _ c: inout Int) throws -> [UInt8] {
        if n > maxLength { throw MsgPackDecodingError(description: "msgpack value of \(n) bytes is too large") }
        try need(n, b, c)
        defer { c += n }
        return Array(b[c..<(c + n)])
    }

    private func length(_ n: Int) throws -> Int {
        if n > maxLength { throw MsgPackDecodingError(description: "msgpack container of \(n) elements is too large") }
        return n
    }

    private func value(_ b: UnsafeRawBufferPointer, _ c: inout Int, depth: Int) throws -> MsgPackValue {
        if depth > maxDepth { throw MsgPackDecodingError(description: "msgpack nesting deeper than \(maxDepth)") }
        let t = try u8(b, &c)
        switch t {
        case 0x00...0x7F: return .int(Int64(t))
        case 0x80...0x8F: return try map(Int(t & 0x0F), b, &c, depth)
        case 0x90...0x9F: return try array(Int(t & 0x0F), b, &c, depth)
        case 0xA0...0xBF: return .str(try raw(Int(t & 0x1F), b, &c))
        case 0xC0: return .nil
        case 0xC2: return .bool(false)
        case 0xC3: return .bool(true)
        case 0xC4: return .bin(try raw(Int(try be(UInt8.self, b, &c)), b, &c))
        case 0xC5: return .bin(try raw(Int(try be(UInt16.self, b, &c)), b, &c))
        case 0xC6: return .bin(try raw(Int(try be(UInt32.self, b, &c)), b, &c))
        case 0xC7:
            let n = Int(try be(UInt8.self, b, &c))
            let type = Int8(bitPattern: try u8(b, &c))
            return .ext(type: type, data: try raw(n, b, &c))
        case 0xC8:
            let n = Int(try be(UInt16.self, b, &c))
            let type = Int8(bitPattern: try u8(b, &c))
            return .ext(type: type, data: try raw(n, b, &c))
        case 0xC9:
            let n = Int(try be(UInt32.self, b, &c))
            let type = Int8(bitPattern: try u8(b, &c))
            return .ext(type: type, data: try raw(n, b, &c))
        case 0xCA: return .float(Double(Float(bitPattern: try be(UInt32.self, b, &c))))
        case 0xCB: return .float(Double(bitPattern: try be(UInt64.self, b, &c)))
        case 0xCC: return .uint(UInt64(try be(UInt8.self, b, &c)))
        case 0xCD: return .uint(UInt64(try be(UInt16.self, b, &c)))
        case 0xCE: return .uint(UInt64(try be(UInt32.self, b, &c)))
        case 0xCF: return .uint(try be(UInt64.self, b, &c))
        case 0xD0: return .int(Int64(Int8(bitPattern: try be(UInt8.self, b, &c))))
        case 0xD1: return .int(Int64(Int16(bitPattern: try be(UInt16.self, b, &c))))
        case 0xD2: return .int(Int64(Int32(bitPattern: try be(UInt32.self, b, &c))))
        case 0xD3: return .int(Int64(bitPattern: try be(UInt64.self, b, &c)))
        case 0xD4, 0xD5, 0xD6, 0xD7, 0xD8:
            let n = 1 << Int(t - 0xD4)
            let type = Int8(bitPattern: try u8(b, &c))
            return .ext(type: type, data: try raw(n, b, &c))
        case 0xD9: return .str(try raw(Int(try be(UInt8.self, b, &c)), b, &c))
        case 0xDA: return .str(try raw(Int(try be(UInt16.self, b, &c)), b, &c))
        case 0xDB: return .str(try raw(Int(try be(UInt32.self, b, &c)), b, &c))
        case 0xDC: return try array(Int(try be(UInt16.self, b, &c)), b, &c, depth)
        case 0xDD: return try array(Int(try be(UInt32.self, b, &c)), b, &c, depth)
        case 0xDE: return try map(Int(try be(UInt16.self, b, &c)), b, &c, depth)
        case 0xDF: return try map(Int(try be(UInt32.self, b, &c)), b, &c, depth)
        case 0xE0...0xFF: return .int(Int64(Int8(bitPattern: t)))
        default:
            throw MsgPackDecodingError(description: "invalid msgpack type byte 0x\(String(t, radix: 16))")
        }
    }

    private func array(_ n: Int, _ b: UnsafeRawBufferPointer, _ c: inout Int, _ depth: Int) throws -> MsgPackValue {
        let n = try length(n)
        var out: [MsgPackValue] = []
        out.reserveCapacity(Swift.min(n, 64))
        for _ in 0..<n { out.append(try value(b, &c, depth: depth + 1)) }
        return .array(out)
    }

    private func map(_ n: Int, _ b: UnsafeRawBufferPointer, _ c: inout Int, _ depth: Int) throws -> MsgPackValue {
        let n = try length(n)
        var out: [MsgPackPair] = []
        out.reserveCapacity(Swift.min(n, 64))
        for _ in 0..<n {
            let k = try value(b, &c, depth: depth + 1)
            let v = try value(b, &c, depth: depth + 1)
            out.append(MsgPackPair(key: k, value: v))
        }
        return .map(out)
    }
}

/// Splits a byte stream into MessagePack values, across partial reads.
struct MsgPackFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = MsgPackValue

    var parser = MsgPackParser()

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        let parsed = try buffer.withUnsafeReadableBytes { try parser.parse($0) }
        guard let (value, consumed) = parsed else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: consumed)
        context.fireChannelRead(Self.wrapInboundOut(value))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}
