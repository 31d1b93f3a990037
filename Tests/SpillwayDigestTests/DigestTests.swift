import SpillwayCore
import SpillwayDigest
import Testing

/// Published test vectors: FIPS 180-2 (SHA-256, SHA-512 of "abc" and the empty string) and
/// RFC 4231 test case 2 (HMAC-SHA256).
@Suite struct DigestTests {
    @Test func sha256() {
        #expect(Hex.string(Digest.sha256(Array("abc".utf8)))
            == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Hex.string(Digest.sha256([]))
            == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        let million = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        #expect(Hex.string(million.withUnsafeBytes { Digest.sha256($0) })
            == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func sha512OfConcatenatedParts() {
        #expect(Hex.string(Digest.sha512([Array("a".utf8), [], Array("bc".utf8)]))
            == "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
            + "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f")
        #expect(Hex.string(Digest.sha512([]))
            == "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
            + "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e")
    }

    @Test func hmacSHA256() {
        #expect(Hex.string(Digest.hmacSHA256(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8)))
            == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }
}
