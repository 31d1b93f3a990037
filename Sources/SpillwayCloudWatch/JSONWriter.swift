/// Appends JSON to a byte array. Hand-written because Foundation's JSON links ICU (docs/architecture.md,
/// Footprint), and because PutLogEvents bodies are large: messages are copied in runs, escaping
/// only what JSON requires.
struct JSONWriter {
    var bytes: [UInt8] = []

    init(capacity: Int = 256) {
        bytes.reserveCapacity(capacity)
    }

    mutating func raw(_ s: StaticString) {
        s.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    mutating func integer(_ v: Int64) {
        if v == 0 {
            bytes.append(UInt8(ascii: "0"))
            return
        }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        var magnitude = v.magnitude
        withUnsafeMutableBytes(of: &digits) { buf in
            while magnitude > 0 {
                buf[count] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
                count += 1
            }
        }
        if v < 0 { bytes.append(UInt8(ascii: "-")) }
        withUnsafeBytes(of: &digits) { buf in
            for k in stride(from: count - 1, through: 0, by: -1) { bytes.append(buf[k]) }
        }
    }

    mutating func string(_ s: String) {
        var s = s
        s.withUTF8 { string(UnsafeBufferPointer(start: $0.baseAddress, count: $0.count)) }
    }

    mutating func string(_ utf8: ArraySlice<UInt8>) {
        utf8.withUnsafeBufferPointer { string($0) }
    }

    /// A JSON string of valid UTF-8 bytes.
    mutating func string(_ p: UnsafeBufferPointer<UInt8>) {
        bytes.append(UInt8(ascii: "\""))
        var runStart = 0
        var i = 0
        let n = p.count
        while i < n {
            // Eight bytes at a time while none needs escaping (the common case for log lines).
            while i + 8 <= n, !Self.needsEscape(UnsafeRawPointer(p.baseAddress! + i).loadUnaligned(as: UInt64.self)) {
                i += 8
            }
            guard i < n else { break }
            let b = p[i]
            if b >= 0x20 && b != UInt8(ascii: "\"") && b != UInt8(ascii: "\\") {
                i += 1
                continue
            }
            if i > runStart { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: p[runStart..<i])) }
            escape(b)
            i += 1
            runStart = i
        }
        if n > runStart { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: p[runStart..<n])) }
        bytes.append(UInt8(ascii: "\""))
    }

    /// Whether any byte of `w` is below 0x20, '"' or '\\' (SWAR: a zero byte of w ^ pattern, or a
    /// byte below 0x20, sets that byte's high bit; bytes ≥ 0x80 are excluded by `~w`).
    @inline(__always)
    static func needsEscape(_ w: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        func hasZero(_ x: UInt64) -> UInt64 { (x &- ones) & ~x & highs }
        let below20 = (w &- ones &* 0x20) & ~w & highs
        return (below20 | hasZero(w ^ (ones &* 0x22)) | hasZero(w ^ (ones &* 0x5C))) != 0
    }

    private mutating func escape(_ b: UInt8) {
        bytes.append(UInt8(ascii: "\\"))
        switch b {
        case UInt8(ascii: "\""): bytes.append(UInt8(ascii: "\""))
        case UInt8(ascii: "\\"): bytes.append(UInt8(ascii: "\\"))
        case 0x0A: bytes.append(UInt8(ascii: "n"))
        case 0x0D: bytes.append(UInt8(ascii: "r"))
        case 0x09: bytes.append(UInt8(ascii: "t"))
        case 0x08: bytes.append(UInt8(ascii: "b"))
        case 0x0C: bytes.append(UInt8(ascii: "f"))
        default:
            let hex = Array("0123456789abcdef".utf8)
            bytes.append(contentsOf: [UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(b >> 4)], hex[Int(b & 15)]])
        }
    }
}

extension JSONWriter {
    /// `{"k":"v",...}` for string members, in the order given.
    static func object(_ members: [(String, String)]) -> [UInt8] {
        var w = JSONWriter()
        w.raw("{")
        for (i, (key, value)) in members.enumerated() {
            if i > 0 { w.raw(",") }
            w.string(key)
            w.raw(":")
            w.string(value)
        }
        w.raw("}")
        return w.bytes
    }
}
