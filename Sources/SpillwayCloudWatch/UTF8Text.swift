/// CloudWatch takes only valid UTF-8 and counts message sizes in UTF-8 bytes, so lines are repaired
/// (invalid sequences become U+FFFD) before any size is computed.
enum UTF8Text {
    /// True when `bytes` is well-formed UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF).
    static func isValid(_ bytes: ArraySlice<UInt8>) -> Bool {
        bytes.withUnsafeBufferPointer { isValid($0) }
    }

    static func isValid(_ p: UnsafeBufferPointer<UInt8>) -> Bool {
        var i = 0
        let n = p.count
        while i < n {
            // ASCII fast path, eight bytes at a time: most log lines are ASCII.
            while i + 8 <= n {
                let word = UnsafeRawPointer(p.baseAddress! + i).loadUnaligned(as: UInt64.self)
                if word & 0x8080_8080_8080_8080 != 0 { break }
                i += 8
            }
            guard i < n else { return true }
            let b0 = p[i]
            if b0 < 0x80 {
                i += 1
                continue
            }
            let length = sequenceLength(p, at: i)
            if length == 0 { return false }
            i += length
        }
        return true
    }

    /// Length of the well-formed multi-byte sequence starting at `i`, or 0 (Unicode Table 3-7).
    @inline(__always)
    static func sequenceLength(_ p: UnsafeBufferPointer<UInt8>, at i: Int) -> Int {
        let n = p.count
        let b0 = p[i]
        func cont(_ k: Int, _ lo: UInt8 = 0x80, _ hi: UInt8 = 0xBF) -> Bool {
            i + k < n && p[i + k] >= lo && p[i + k] <= hi
        }
        switch b0 {
        case 0xC2...0xDF: return cont(1) ? 2 : 0
        case 0xE0: return cont(1, 0xA0) && cont(2) ? 3 : 0
        case 0xE1...0xEC, 0xEE...0xEF: return cont(1) && cont(2) ? 3 : 0
        case 0xED: return cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0
        case 0xF0: return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0
        case 0xF1...0xF3: return cont(1) && cont(2) && cont(3) ? 4 : 0
        case 0xF4: return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0
        default: return 0
        }
    }

    /// The bytes with each maximal invalid subpart replaced by U+FFFD (the Unicode-recommended
    /// practice, which Swift's String(decoding:) and Python's `errors="replace"` both follow).
    static func repaired(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        Array(String(decoding: bytes, as: UTF8.self).utf8)
    }

    /// `bytes` unchanged when valid, else repaired.
    static func valid(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        isValid(bytes) ? bytes : ArraySlice(repaired(bytes))
    }

    /// Largest cut position ≤ `limit` that does not split a character of valid UTF-8 `bytes`
    /// (counted from `bytes.startIndex`).
    static func boundary(in bytes: ArraySlice<UInt8>, atMost limit: Int) -> Int {
        var cut = bytes.startIndex + limit
        guard cut < bytes.endIndex else { return bytes.endIndex }
        // Continuation bytes are 10xxxxxx; back up to a lead byte (at most 3 steps in valid text).
        while cut > bytes.startIndex, bytes[cut] & 0xC0 == 0x80 { cut -= 1 }
        return cut
    }
}
