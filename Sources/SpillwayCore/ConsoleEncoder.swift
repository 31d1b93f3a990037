/// JSON lines for the console sink:
/// `{"time":"…","source":"stdout","log":"…","container_name":"…",…}`.
/// Invalid UTF-8 becomes U+FFFD (as Docker's json-file does); everything else is kept.
public struct ConsoleEncoder: Sendable {
    private let tail: [UInt8]

    /// The "YYYY-MM-DDTHH:MM:SS" of the last second seen, reused while records share a second.
    public struct SecondCache {
        var second: Int64 = .min
        var prefix: [UInt8] = []
        public init() {}
    }

    public init(fields: RecordFields) {
        var tail: [UInt8] = []
        appendJSONField("container_name", fields.containerName, to: &tail)
        if let id = fields.containerID { appendJSONField("container_id", id, to: &tail) }
        for field in fields.extra { appendJSONField(field.name, field.value, to: &tail) }
        self.tail = tail
    }

    private static let opening = Array(#"{"time":""#.utf8)
    private static let stdoutMiddle = Array(#"Z","source":"stdout","log":""#.utf8)
    private static let stderrMiddle = Array(#"Z","source":"stderr","log":""#.utf8)
    private static let closing = Array("}\n".utf8)

    public func encode(_ record: LogRecord, into out: inout [UInt8], cache: inout SecondCache) {
        out.append(contentsOf: Self.opening)
        let second = record.time.seconds
        if second != cache.second {
            cache.second = second
            cache.prefix.removeAll(keepingCapacity: true)
            RFC3339.appendSecondPrefix(second, to: &cache.prefix)
        }
        out.append(contentsOf: cache.prefix)
        out.append(UInt8(ascii: "."))
        RFC3339.appendDigits(Int(record.time.nanosecondOfSecond), count: 9, to: &out)
        out.append(contentsOf: record.stream == .stdout ? Self.stdoutMiddle : Self.stderrMiddle)
        record.line.withUnsafeBytes { appendJSONEscaped($0, to: &out) }
        out.append(UInt8(ascii: "\""))
        out.append(contentsOf: tail)
        if let partial = record.partial {
            out.append(contentsOf: #","partial_message":true,"partial_id":""#.utf8)
            out.append(contentsOf: partial.id.hex.utf8)
            out.append(contentsOf: #"","partial_ordinal":"#.utf8)
            out.append(contentsOf: String(partial.ordinal).utf8)
            out.append(contentsOf: partial.isLast ? #","partial_last":true"#.utf8 : #","partial_last":false"#.utf8)
        }
        out.append(contentsOf: Self.closing)
    }
}

private func appendJSONField(_ name: String, _ value: String, to out: inout [UInt8]) {
    out.append(contentsOf: ",\"".utf8)
    Array(name.utf8).withUnsafeBytes { appendJSONEscaped($0, to: &out) }
    out.append(contentsOf: "\":\"".utf8)
    Array(value.utf8).withUnsafeBytes { appendJSONEscaped($0, to: &out) }
    out.append(UInt8(ascii: "\""))
}

/// Appends `bytes` as the inside of a JSON string. Runs of plain ASCII (found eight bytes at a
/// time) are copied in one piece; control characters are escaped; invalid UTF-8 is replaced byte
/// by byte with U+FFFD.
func appendJSONEscaped(_ bytes: UnsafeRawBufferPointer, to out: inout [UInt8]) {
    let count = bytes.count
    var i = 0
    while i < count {
        let runStart = i
        while i + 8 <= count && isPlainASCII(bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self)) { i += 8 }
        while i < count && isPlainASCII(bytes[i]) { i += 1 }
        if i > runStart { out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[runStart..<i])) }
        guard i < count else { return }
        let byte = bytes[i]
        if byte < 0x80 {
            appendEscape(byte, to: &out)
            i += 1
        } else {
            let length = validUTF8SequenceLength(bytes, at: i)
            if length == 0 {
                out.append(contentsOf: replacementCharacter)
                i += 1
            } else {
                out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[i..<(i + length)]))
                i += length
            }
        }
    }
}

private let replacementCharacter: [UInt8] = [0xEF, 0xBF, 0xBD]

@inline(__always)
private func isPlainASCII(_ byte: UInt8) -> Bool {
    byte >= 0x20 && byte < 0x7f && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "\\")
}

/// A quote, a backslash or a control character (DEL included), as JSON wants it.
private func appendEscape(_ byte: UInt8, to out: inout [UInt8]) {
    out.append(UInt8(ascii: "\\"))
    switch byte {
    case UInt8(ascii: "\""), UInt8(ascii: "\\"): out.append(byte)
    case 0x0a: out.append(UInt8(ascii: "n"))
    case 0x0d: out.append(UInt8(ascii: "r"))
    case 0x09: out.append(UInt8(ascii: "t"))
    default:
        out.append(contentsOf: [UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                Hex.digits[Int(byte >> 4)], Hex.digits[Int(byte & 0xf)]])
    }
}

/// No byte below 0x20, none at or above 0x7f, no `"` and no `\`.
@inline(__always)
private func isPlainASCII(_ word: UInt64) -> Bool {
    let ones: UInt64 = 0x0101_0101_0101_0101
    let highs: UInt64 = 0x8080_8080_8080_8080
    func hasZeroByte(_ x: UInt64) -> Bool { (x &- ones) & ~x & highs != 0 }
    let hasLow = (word &- 0x2020_2020_2020_2020) & ~word & highs != 0
    let hasDEL = hasZeroByte(word ^ 0x7f7f_7f7f_7f7f_7f7f)
    return word & highs == 0 && !hasLow && !hasDEL
        && !hasZeroByte(word ^ 0x2222_2222_2222_2222) && !hasZeroByte(word ^ 0x5c5c_5c5c_5c5c_5c5c)
}

/// Length of the well-formed UTF-8 sequence starting at `i` (RFC 3629: no overlongs, no
/// surrogates, nothing above U+10FFFF), or 0 if it is not one.
func validUTF8SequenceLength(_ bytes: UnsafeRawBufferPointer, at i: Int) -> Int {
    let b0 = bytes[i]
    let (length, low, high): (Int, UInt8, UInt8) = switch b0 {
    case 0xC2...0xDF: (2, 0x80, 0xBF)
    case 0xE0: (3, 0xA0, 0xBF)
    case 0xE1...0xEC, 0xEE...0xEF: (3, 0x80, 0xBF)
    case 0xED: (3, 0x80, 0x9F)
    case 0xF0: (4, 0x90, 0xBF)
    case 0xF1...0xF3: (4, 0x80, 0xBF)
    case 0xF4: (4, 0x80, 0x8F)
    default: (0, 0, 0)
    }
    guard length > 0, i + length <= bytes.count else { return 0 }
    guard (low...high).contains(bytes[i + 1]) else { return 0 }
    for k in 2..<length where bytes[i + k] & 0xC0 != 0x80 { return 0 }
    return length
}
