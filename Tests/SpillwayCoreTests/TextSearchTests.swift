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
