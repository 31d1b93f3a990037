import Testing
@testable import SpillwaySystem

private func matches(_ pattern: String, _ line: String) throws -> Bool {
    try PosixRegex(pattern).matches(Array(line.utf8)[...])
}

@Suite struct PosixRegexTests {
    @Test func dockerStylePatternsWork() throws {
        #expect(try matches(#"^\d{4}-\d{2}-\d{2}"#, "2024-01-31 12:00:00 INFO up"))
        #expect(try !matches(#"^\d{4}-\d{2}-\d{2}"#, "\tat com.example.Main(Main.java:3)"))
        #expect(try matches(#"^\["#, "[INFO] x") && !matches(#"^\["#, " [INFO] x"))
        #expect(try matches("^(INFO|WARN|ERROR)", "WARN disk") && !matches("^(INFO|WARN|ERROR)", "DEBUG x"))
        #expect(try matches(#"^\s"#, "  at x") && !matches(#"^\s"#, "x"))
        #expect(try matches(#"^\S"#, "x") && !matches(#"^\S"#, "\tx"))
        #expect(try matches(#"\w+Exception"#, "java.lang.IllegalStateException: no"))
        #expect(try matches(#"^[\d\s]+$"#, "12 34") && !matches(#"^[\d\s]+$"#, "12a"))
        #expect(try matches(#"^(?:Mon|Tue) \d"#, "Tue 1"))
        #expect(try matches(#"^\t"#, "\tx") && matches(#"a\.b"#, "a.b") && !matches(#"a\.b"#, "axb"))
    }

    @Test func unanchoredPatternsMatchAnywhere() throws {
        #expect(try matches(#"\d{2}:\d{2}"#, "level=info time=12:30 msg=x"))
    }

    @Test func matchesBytesInPlaceWithNULsAndEmptySlices() throws {
        let regex = try PosixRegex("b$")
        let bytes: [UInt8] = [0x61, 0, 0x62, 0x63]
        #expect(regex.matches(bytes[0..<3]))  // stops at the slice's end, reads past the NUL
        #expect(!regex.matches(bytes[0..<4]))
        #expect(try PosixRegex("^$").matches([][...]))
    }

    @Test func anInvalidPatternGivesTheEnginesReason() {
        #expect(throws: PosixRegex.CompileError.self) { try PosixRegex("(unclosed") }
        do {
            _ = try PosixRegex("a{2,1}")
            Issue.record("compiled")
        } catch {
            #expect(!error.reason.isEmpty)
        }
    }

    @Test func re2ShorthandsBecomeBracketClasses() {
        #expect(PosixRegex.ere(fromRE2: #"^\d\D\s\S\w\W"#) == "^[0-9][^0-9][[:space:]][^[:space:]][[:alnum:]_][^[:alnum:]_]")
        #expect(PosixRegex.ere(fromRE2: #"[\d\.][^\s,][[:alpha:]\w]"#) == "[0-9.][^[:space:],][[:alpha:][:alnum:]_]")
        #expect(PosixRegex.ere(fromRE2: "(?:a|b)(c)") == "(a|b)(c)")
    }
}
