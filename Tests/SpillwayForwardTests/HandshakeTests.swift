import Testing

@testable import SpillwayForward

/// Raw random bytes as Fluent Bit sends them in a str: not valid UTF-8.
let nonce: [UInt8] = [0xFF, 0xFE, 0x00, 0x80]

func heloMessage(nonce: [UInt8], auth: [UInt8], asBin: Bool = false) -> [UInt8] {
    var b: [UInt8] = [0x92] + fixstr("HELO") + [0x83]
    b += fixstr("nonce") + (asBin ? [0xC4, UInt8(nonce.count)] : [0xA0 | UInt8(nonce.count)]) + nonce
    b += fixstr("auth") + (asBin ? [0xC4, UInt8(auth.count)] : [0xA0 | UInt8(auth.count)]) + auth
    b += fixstr("keepalive") + [0xC3]
    return b
}

func pongMessage(ok: Bool, reason: String, hostname: String, digest: String) -> [UInt8] {
    var b: [UInt8] = [0x95] + fixstr("PONG") + [ok ? 0xC3 : 0xC2] + fixstr(reason) + fixstr(hostname)
    b += [0xD9, UInt8(digest.utf8.count)] + Array(digest.utf8)
    return b
}

func parse(_ bytes: [UInt8]) throws -> MsgPackValue {
    let (value, used) = try #require(try MsgPackParser().parse(bytes))
    #expect(used == bytes.count)
    return value
}

@Suite struct HandshakeTests {
    @Test func sha512KnownVector() {
        // FIPS 180-2 example: SHA-512("abc"), here fed in three parts.
        let expected = "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
            + "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
        #expect(Handshake.sha512Hex([0x61], [0x62], [0x63]) == Array(expected.utf8))
    }

    @Test func clientDigestHashesRawNonceBytes() {
        // python3: hashlib.sha512(b'salt' + b'host' + b'\xff\xfe\x00\x80' + b'key').hexdigest()
        let expected = "2b6995e22fbd323c0413595e1da11f16c66d2d5bdaa0a62ab8612dff46f52bc8"
            + "a106e09da6171b662cd609da9ef6babc69fd83804e45e46d5bf27946a255a424"
        let h = Handshake(selfHostname: "host", sharedKey: "key", username: nil, password: nil)
        #expect(h.clientDigest(salt: Array("salt".utf8), nonce: nonce) == Array(expected.utf8))
    }

    @Test(arguments: [false, true])
    func heloAsStrOrBin(asBin: Bool) throws {
        let helo = try Handshake.parseHelo(try parse(heloMessage(nonce: nonce, auth: [0x01, 0xFA, 0xC3], asBin: asBin)))
        #expect(helo == Handshake.Helo(nonce: nonce, auth: [0x01, 0xFA, 0xC3], keepalive: true))
    }

    @Test func heloWithoutNonceIsAnError() throws {
        let value = try parse([0x92] + fixstr("HELO") + [0x80])
        #expect(throws: Handshake.Failure.self) { try Handshake.parseHelo(value) }
        #expect(throws: Handshake.Failure.self) { try Handshake.parseHelo(try parse([0x91] + fixstr("PONG"))) }
    }

    @Test func pingWithoutUserAuthIsAllStr() throws {
        let h = Handshake(selfHostname: "host", sharedKey: "key", username: nil, password: nil)
        let helo = Handshake.Helo(nonce: nonce, auth: [], keepalive: true)
        let ping = try parse(h.ping(helo: helo, salt: Array("salt".utf8)))
        let fields = try #require(ping.arrayValue)
        let digest = "2b6995e22fbd323c0413595e1da11f16c66d2d5bdaa0a62ab8612dff46f52bc8"
            + "a106e09da6171b662cd609da9ef6babc69fd83804e45e46d5bf27946a255a424"
        #expect(fields == [
            .str(Array("PING".utf8)), .str(Array("host".utf8)), .str(Array("salt".utf8)),
            .str(Array(digest.utf8)), .str([]), .str([]),
        ])
    }

    @Test func pingWithUserAuth() throws {
        let h = Handshake(selfHostname: "host", sharedKey: "key", username: "alice", password: "secret")
        let helo = Handshake.Helo(nonce: nonce, auth: [0x01, 0xFA, 0xC3], keepalive: true)
        let fields = try #require(try parse(h.ping(helo: helo, salt: Array("salt".utf8))).arrayValue)
        // python3: hashlib.sha512(b'\x01\xfa\xc3' + b'alice' + b'secret').hexdigest()
        let passwordDigest = "3dcc258fd9489d40e4557b747578523aac8cbb5094200f17ba756276ea369387"
            + "f683e37406230f4e1af127bcc580f52187a9279276e199cb29ccb3d1c5beead1"
        #expect(fields.count == 6)
        #expect(fields[4] == .str(Array("alice".utf8)))
        #expect(fields[5] == .str(Array(passwordDigest.utf8)))
    }

    @Test func pongVerification() throws {
        let h = Handshake(selfHostname: "host", sharedKey: "key", username: nil, password: nil)
        // python3: hashlib.sha512(b'salt' + b'server' + b'\xff\xfe\x00\x80' + b'key').hexdigest()
        let good = "08feb2b0fda4cb40d32296445db61c8b4829596921421d604f5444a5a0734abd"
            + "8f944fb927b03917d73d8720dbdffc5dc41e3e4f346b35e930b60662c68d54dd"
        let salt = Array("salt".utf8)
        try h.verifyPong(try parse(pongMessage(ok: true, reason: "", hostname: "server", digest: good)),
                         salt: salt, nonce: nonce)

        let wrongHost = try parse(pongMessage(ok: true, reason: "", hostname: "other", digest: good))
        #expect(throws: Handshake.Failure.digestMismatch) { try h.verifyPong(wrongHost, salt: salt, nonce: nonce) }

        let rejected = try parse(pongMessage(ok: false, reason: "shared_key mismatch", hostname: "server", digest: ""))
        #expect(throws: Handshake.Failure.rejected(reason: "shared_key mismatch")) {
            try h.verifyPong(rejected, salt: salt, nonce: nonce)
        }
        #expect(Handshake.Failure.rejected(reason: "shared_key mismatch").reason(endpoint: "tcp://h:1")
            == "handshake rejected by tcp://h:1: shared_key mismatch")
        #expect(Handshake.Failure.digestMismatch.reason(endpoint: "tcp://h:1")
            == "handshake with tcp://h:1: PONG digest mismatch: wrong shared key on the receiver?")
    }

    @Test func ackAsStrOrBin() throws {
        let chunk = Array("AAECAwQFBgcICQoLDA0ODw==".utf8)
        let asStr = try parse([0x81] + fixstr("ack") + fixstr("AAECAwQFBgcICQoLDA0ODw=="))
        let asBin = try parse([0x81] + fixstr("ack") + [0xC4, 24] + chunk)
        #expect(asStr["ack"]?.bytes == chunk)
        #expect(asBin["ack"]?.bytes == chunk)
        #expect(asStr["nack"] == nil)
    }

    @Test func parserWaitsForWholeValues() throws {
        let message = [0x81] + fixstr("ack") + fixstr("AAECAwQFBgcICQoLDA0ODw==")
            + heloMessage(nonce: nonce, auth: [])
        let first = try #require(try MsgPackParser().parse(message))
        for cut in 0..<first.1 {
            #expect(try MsgPackParser().parse(Array(message[0..<cut])) == nil, "prefix \(cut)")
        }
        let second = try #require(try MsgPackParser().parse(Array(message[first.1...])))
        #expect(first.1 + second.1 == message.count)
    }

    @Test func parserRejectsGarbage() {
        #expect(throws: MsgPackDecodingError.self) { try MsgPackParser().parse([0xC1]) }
        #expect(throws: MsgPackDecodingError.self) { try MsgPackParser().parse([0xDB, 0x7F, 0xFF, 0xFF, 0xFF]) }
        let deep = [UInt8](repeating: 0x91, count: 100) + [0xC0]
        #expect(throws: MsgPackDecodingError.self) { try MsgPackParser().parse(deep) }
    }

    @Test func parserScalars() throws {
        #expect(try parse([0xC0]) == .nil)
        #expect(try parse([0xCB, 0x3F, 0xF0, 0, 0, 0, 0, 0, 0]) == .float(1.0))
        #expect(try parse([0xD3, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE]) == .int(-2))
        #expect(try parse([0xD7, 0x00] + [UInt8](repeating: 1, count: 8)) == .ext(type: 0, data: [UInt8](repeating: 1, count: 8)))
        #expect(try parse([0xDE, 0x00, 0x01, 0xA1, 0x61, 0x01]) == .map([MsgPackPair(key: .str([0x61]), value: .int(1))]))
    }
}
