/// Lowercase hexadecimal, the one encoding every module uses (partial ids, handshake digests,
/// SigV4 signatures, JSON escapes).
public enum Hex {
    public static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    public static func encode(_ bytes: some Sequence<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.underestimatedCount * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return out
    }

    public static func string(_ bytes: some Sequence<UInt8>) -> String {
        String(decoding: encode(bytes), as: UTF8.self)
    }

    /// The 16 digits of `word`, most significant first.
    public static func digits(of word: UInt64) -> some Sequence<UInt8> {
        (0..<16).lazy.map { digits[Int((word >> UInt64(60 - 4 * $0)) & 0xF)] }
    }
}
