/// The entry point of the fuzz target Sources/FuzzMessagePack (scripts/fuzz): what a forward
/// receiver sends reaches the msgpack decoder and the handshake this way, as ForwardConnection
/// feeds them. Public only for that target; nothing else calls it.
public enum FuzzEntry {
    /// Splits `bytes` into msgpack values as the frame decoder does, and reads each one as a HELO,
    /// a PONG and an ack.
    public static func receiverBytes(_ bytes: UnsafeRawBufferPointer) {
        let parser = MsgPackParser()
        let handshake = Handshake(selfHostname: "fuzz", sharedKey: "secret", username: "user", password: "pass")
        let salt = Array("0123456789abcdef0123456789abcdef".utf8)
        var rest = bytes
        while !rest.isEmpty {
            guard let (value, consumed) = try? parser.parse(rest) else { return }
            precondition(consumed > 0 && consumed <= rest.count, "msgpack: \(consumed) bytes taken of \(rest.count)")
            // A read that ends inside a value asks for more bytes, whatever the cut.
            let prefix = UnsafeRawBufferPointer(rebasing: rest[..<(consumed - 1)])
            if (try? parser.parse(prefix)) != nil { preconditionFailure("msgpack: a value's prefix parsed as a value") }
            if let helo = try? Handshake.parseHelo(value) {
                _ = handshake.ping(helo: helo, salt: salt)
            }
            _ = try? handshake.verifyPong(value, salt: salt, nonce: Array("nonce".utf8))
            _ = value["ack"]?.bytes
            _ = Handshake.summary(value)
            rest = UnsafeRawBufferPointer(rebasing: rest[consumed...])
        }
    }
}
