import SpillwayCore
import SpillwayDigest

/// The forward protocol v1 handshake (HELO / PING / PONG), as pure functions over bytes.
///
/// Every handshake field is handled as bytes: Fluent Bit sends the HELO `nonce` and `auth` as msgpack
/// str holding raw random bytes (not UTF-8), and the digests hash the bytes as received. Every PING
/// field goes out as a msgpack str (Fluent Bit closes the connection on a bin field).
struct Handshake {
    var selfHostname: [UInt8]
    var sharedKey: [UInt8]
    var username: [UInt8]?
    var password: [UInt8]

    /// What the server's HELO carried.
    struct Helo: Equatable {
        var nonce: [UInt8]
        var auth: [UInt8]
        var keepalive: Bool
    }

    enum Failure: Error, Equatable {
        /// The server said no (PONG ok=false), with its reason text.
        case rejected(reason: String)
        /// The server's PONG digest does not prove it knows the shared key.
        case digestMismatch
        /// Something other than the expected handshake message.
        case protocolError(String)

        /// Reason text naming `endpoint`.
        func reason(endpoint: String) -> String {
            switch self {
            case .rejected(let reason): return "handshake rejected by \(endpoint): \(reason)"
            case .digestMismatch: return "handshake with \(endpoint): PONG digest mismatch: wrong shared key on the receiver?"
            case .protocolError(let what): return "handshake with \(endpoint): \(what)"
            }
        }
    }

    init(selfHostname: String, sharedKey: String, username: String?, password: String?) {
        self.selfHostname = Array(selfHostname.utf8)
        self.sharedKey = Array(sharedKey.utf8)
        self.username = username.map { Array($0.utf8) }
        self.password = Array((password ?? "").utf8)
    }

    /// Lowercase hex of SHA-512 over the concatenation of `parts`.
    static func sha512Hex(_ parts: [UInt8]...) -> [UInt8] {
        Hex.encode(Digest.sha512(parts))
    }

    /// 32 lowercase hex digits: ASCII, so it travels as a valid str.
    static func makeSalt() -> [UInt8] {
        Hex.encode(randomBytes(16))
    }

    /// Reads `["HELO", {"nonce": …, "auth": …, "keepalive": …}]`.
    static func parseHelo(_ value: MsgPackValue) throws -> Helo {
        guard let a = value.arrayValue, a.count >= 2, a[0].bytes == Array("HELO".utf8) else {
            throw Failure.protocolError("expected HELO, got \(summary(value))")
        }
        let options = a[1]
        guard case .map = options else { throw Failure.protocolError("HELO without an option map") }
        guard let nonce = options["nonce"]?.bytes else { throw Failure.protocolError("HELO without a nonce") }
        let auth = options["auth"]?.bytes ?? []
        let keepalive = options["keepalive"]?.boolValue ?? true
        return Helo(nonce: nonce, auth: auth, keepalive: keepalive)
    }

    /// The client digest: hex(sha512(salt + self_hostname + nonce + shared_key)).
    func clientDigest(salt: [UInt8], nonce: [UInt8]) -> [UInt8] {
        Self.sha512Hex(salt, selfHostname, nonce, sharedKey)
    }

    /// `["PING", self_hostname, salt, digest, username, password_digest]`, every field a str.
    func ping(helo: Helo, salt: [UInt8]) -> [UInt8] {
        var b: [UInt8] = []
        MsgPack.appendArrayHeader(6, to: &b)
        MsgPack.appendStr("PING", to: &b)
        MsgPack.appendStr(selfHostname, to: &b)
        MsgPack.appendStr(salt, to: &b)
        MsgPack.appendStr(clientDigest(salt: salt, nonce: helo.nonce), to: &b)
        if let username {
            MsgPack.appendStr(username, to: &b)
            MsgPack.appendStr(Self.sha512Hex(helo.auth, username, password), to: &b)
        } else {
            MsgPack.appendStr([UInt8](), to: &b)
            MsgPack.appendStr([UInt8](), to: &b)
        }
        return b
    }

    /// Checks `["PONG", ok, reason, server_hostname, digest]`; throws with a human reason.
    func verifyPong(_ value: MsgPackValue, salt: [UInt8], nonce: [UInt8]) throws {
        guard let a = value.arrayValue, a.count >= 5, a[0].bytes == Array("PONG".utf8) else {
            throw Failure.protocolError("expected PONG, got \(Self.summary(value))")
        }
        guard let ok = a[1].boolValue else { throw Failure.protocolError("PONG without an ok flag") }
        if !ok {
            let reason = a[2].bytes.map { String(decoding: $0, as: UTF8.self) } ?? "no reason given"
            throw Failure.rejected(reason: reason)
        }
        let serverHostname = a[3].bytes ?? []
        let expected = Self.sha512Hex(salt, serverHostname, nonce, sharedKey)
        guard a[4].bytes == expected else {
            throw Failure.digestMismatch
        }
    }

    /// A short description of an unexpected value, for error messages (no payload bytes).
    static func summary(_ value: MsgPackValue) -> String {
        switch value {
        case .array(let a):
            if let first = a.first, let b = first.bytes, b.count <= 16, b.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) {
                return "[\"\(String(decoding: b, as: UTF8.self))\", …] (\(a.count) elements)"
            }
            return "an array of \(a.count) elements"
        case .map(let m): return "a map of \(m.count) entries"
        case .str: return "a str"
        case .bin: return "a bin"
        default: return "a scalar"
        }
    }
}
