import SpillwayCore
import Testing

@Suite struct TextSearchTests {
    @Test func firstRangeFindsTheFirstOccurrence() {
        let s = "tcp://a://b"
        let r = s.firstRange(ofText: "://")
        #expect(r.map { String(s[..<$0.lowerBound]) } == "tcp")
        #expect(r.map { String(s[$0.upperBound...]) } == "a://b")
        #expect(s.firstRange(ofText: "::") == nil)
        #expect("ab".firstRange(ofText: "abc") == nil)
        #expect("".firstRange(ofText: "a") == nil)
        #expect("xaab".firstRange(ofText: "ab").map { "xaab"[$0] } == "ab")  // restarts after a partial match
    }

    @Test func containsTextAcrossScalarsAndSubstrings() {
        #expect("size too large for it".contains(text: "too large"))
        #expect(!"size too larg".contains(text: "too large"))
        #expect("é: [::1]:24224".dropFirst(3).contains(text: "]:"))
        #expect("naïve".contains(text: "ï"))
    }

    @Test func replacingEveryOccurrence() {
        #expect("{a}{b}".replacingEvery("{", with: "{{").replacingEvery("}", with: "}}") == "{{a}}{{b}}")
        #expect("aaa".replacingEvery("aa", with: "b") == "ba")
        #expect("none".replacingEvery("x", with: "y") == "none")
        #expect("".replacingEvery("x", with: "y") == "")
    }
}

@Suite struct HexTests {
    @Test func decodeIsEncodesInverse() {
        let bytes: [UInt8] = [0, 1, 0x7f, 0x80, 0xab, 0xff]
        #expect(Hex.decode(Hex.string(bytes)) == bytes)
        #expect(Hex.decode("ABcd") == [0xab, 0xcd])
        #expect(Hex.decode("") == [])
        #expect(Hex.decode("abc") == nil)
        #expect(Hex.decode("zz") == nil)
    }
}
