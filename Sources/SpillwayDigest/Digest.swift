import CNIOBoringSSL

/// SHA-2 digests and HMAC-SHA256 for request signing (SigV4) and the forward handshake, from the
/// BoringSSL that NIOSSL already links for TLS: swift-crypto would add a second BoringSSL and
/// FoundationEssentials, 4.4 MB of the binary, for three functions.
public enum Digest {
    public static let sha256Size = 32
    public static let sha512Size = 64

    public static func sha256(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: sha256Size) { out, count in
            _ = SHA256(bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count, out.baseAddress)
            count = sha256Size
        }
    }

    public static func sha256(_ bytes: [UInt8]) -> [UInt8] {
        bytes.withUnsafeBytes { sha256($0) }
    }

    public static func hmacSHA256(key: [UInt8], message: [UInt8]) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: sha256Size) { out, count in
            var length: UInt32 = 0
            key.withUnsafeBufferPointer { k in
                message.withUnsafeBufferPointer { m in
                    _ = HMAC(EVP_sha256(), k.baseAddress, k.count, m.baseAddress, m.count,
                                           out.baseAddress, &length)
                }
            }
            count = Int(length)
        }
    }

    /// SHA-512 of the concatenation of `parts`.
    public static func sha512(_ parts: [[UInt8]]) -> [UInt8] {
        var context = SHA512_CTX()
        SHA512_Init(&context)
        for part in parts { part.withUnsafeBytes { _ = SHA512_Update(&context, $0.baseAddress, $0.count) } }
        return [UInt8](unsafeUninitializedCapacity: sha512Size) { out, count in
            _ = SHA512_Final(out.baseAddress, &context)
            count = sha512Size
        }
    }
}
