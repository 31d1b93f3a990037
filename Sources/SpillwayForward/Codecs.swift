import CSpillwayZlib

// Small byte codecs written here so the module needs no Foundation: base64, hex, gzip.

enum Base64 {
    private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// Standard base64 (RFC 4648 §4) with `=` padding.
    static func encode(_ bytes: some Collection<UInt8>) -> [UInt8] {
        let input = Array(bytes)
        var out: [UInt8] = []
        out.reserveCapacity((input.count + 2) / 3 * 4)
        var i = 0
        while i + 3 <= input.count {
            let v = UInt32(input[i]) << 16 | UInt32(input[i + 1]) << 8 | UInt32(input[i + 2])
            out.append(alphabet[Int(v >> 18 & 63)])
            out.append(alphabet[Int(v >> 12 & 63)])
            out.append(alphabet[Int(v >> 6 & 63)])
            out.append(alphabet[Int(v & 63)])
            i += 3
        }
        let rest = input.count - i
        if rest == 1 {
            let v = UInt32(input[i]) << 16
            out.append(alphabet[Int(v >> 18 & 63)])
            out.append(alphabet[Int(v >> 12 & 63)])
            out.append(UInt8(ascii: "="))
            out.append(UInt8(ascii: "="))
        } else if rest == 2 {
            let v = UInt32(input[i]) << 16 | UInt32(input[i + 1]) << 8
            out.append(alphabet[Int(v >> 18 & 63)])
            out.append(alphabet[Int(v >> 12 & 63)])
            out.append(alphabet[Int(v >> 6 & 63)])
            out.append(UInt8(ascii: "="))
        }
        return out
    }
}

/// Random bytes from the system generator (getrandom(2)).
func randomBytes(_ count: Int) -> [UInt8] {
    var rng = SystemRandomNumberGenerator()
    var out: [UInt8] = []
    out.reserveCapacity(count + 8)
    while out.count < count {
        var v = rng.next() as UInt64
        withUnsafeBytes(of: &v) { out.append(contentsOf: $0) }
    }
    return Array(out[0..<count])
}

struct GzipError: Error, CustomStringConvertible {
    var description: String
}

enum Gzip {
    /// Compression level: 1 (fastest). Log lines compress well even so, and this runs on the
    /// delivery path for every byte.
    static let level: Int32 = 1

    /// Compresses `input` into one gzip member (RFC 1952), appended to `out`.
    static func compress(_ input: UnsafeRawBufferPointer, appendingTo out: inout [UInt8]) throws {
        var stream = z_stream()
        var rc = deflateInit2_(&stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY,
                               ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard rc == Z_OK else { throw GzipError(description: "deflateInit2 failed (\(rc))") }
        defer { deflateEnd(&stream) }
        let bound = Int(deflateBound(&stream, UInt(input.count)))
        let start = out.count
        out.reserveCapacity(start + bound + 64)
        // zlib takes a non-const next_in; it does not write through it.
        stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
        stream.avail_in = uInt(input.count)
        var produced = 0
        repeat {
            let room = Swift.max(bound - produced, 4096)
            out.append(contentsOf: repeatElement(0, count: room))
            out.withUnsafeMutableBufferPointer { buf in
                stream.next_out = buf.baseAddress! + start + produced
                stream.avail_out = uInt(room)
                rc = deflate(&stream, Z_FINISH)
            }
            let wrote = room - Int(stream.avail_out)
            produced += wrote
            out.removeLast(Int(stream.avail_out))
        } while rc == Z_OK || rc == Z_BUF_ERROR
        guard rc == Z_STREAM_END else { throw GzipError(description: "deflate failed (\(rc))") }
    }
}
