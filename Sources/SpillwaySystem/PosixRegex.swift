#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A POSIX extended regular expression (glibc's `regcomp`), matched against bytes in place.
///
/// Chosen over Swift's `Regex` for speed: 3 to 8 times the lines per second, for the same binary
/// size (README, Multiline). Patterns are written
/// in the RE2 syntax Docker's awslogs driver takes; `ere(fromRE2:)` rewrites the shorthands ERE
/// lacks. Matching is bytewise (spillway never calls setlocale: the C locale).
public final class PosixRegex: @unchecked Sendable {
    private var compiled = regex_t()

    /// The pattern did not compile; `reason` is regerror's text.
    public struct CompileError: Error, Equatable {
        public var reason: String
    }

    public init(_ pattern: String) throws(CompileError) {
        let ere = PosixRegex.ere(fromRE2: pattern)
        let code = regcomp(&compiled, ere, REG_EXTENDED | REG_NOSUB)
        guard code == 0 else {
            var text = [CChar](repeating: 0, count: 256)
            regerror(code, &compiled, &text, text.count)
            throw CompileError(reason: String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
    }

    deinit { regfree(&compiled) }

    /// Whether the pattern matches anywhere in `bytes` (REG_STARTEND: no copy, NULs allowed).
    public func matches(_ bytes: ArraySlice<UInt8>) -> Bool {
        var range = regmatch_t(rm_so: 0, rm_eo: regoff_t(bytes.count))
        guard !bytes.isEmpty else {
            // An empty slice may have no storage: match against an empty C string.
            return regexec(&compiled, "", 1, &range, REG_STARTEND) == 0
        }
        return bytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { chars in
                regexec(&compiled, chars.baseAddress!, 1, &range, REG_STARTEND) == 0
            }
        }
    }

    /// RE2 → ERE: `\d \s \w` and their negations become bracket classes (inside brackets too,
    /// where only the positive ones can be spliced), `(?:` becomes `(` (REG_NOSUB captures
    /// nothing anyway), `\t \n \r \f \v` become their characters; inside brackets an escaped
    /// character loses its backslash; every other escape passes on.
    public static func ere(fromRE2 pattern: String) -> String {
        let classes: [Character: (outside: String, inside: String?)] = [
            "d": ("[0-9]", "0-9"), "D": ("[^0-9]", nil),
            "s": ("[[:space:]]", "[:space:]"), "S": ("[^[:space:]]", nil),
            "w": ("[[:alnum:]_]", "[:alnum:]_"), "W": ("[^[:alnum:]_]", nil),
        ]
        let controls: [Character: String] = ["t": "\t", "n": "\n", "r": "\r", "f": "\u{0C}", "v": "\u{0B}"]
        var out = ""
        var inBrackets = false
        var chars = Array(pattern)[...]
        while let c = chars.popFirst() {
            if c == "\\", let next = chars.popFirst() {
                if let cls = classes[next], let text = inBrackets ? cls.inside : cls.outside {
                    out += text
                } else if let control = controls[next] {
                    out += control
                } else if inBrackets, !"]^-\\".contains(next) {
                    out.append(next)  // a backslash inside ERE brackets would be a member
                } else {
                    out += "\\\(next)"
                }
            } else if !inBrackets, c == "(", chars.starts(with: ["?", ":"]) {
                chars.removeFirst(2)
                out.append("(")
            } else if !inBrackets, c == "[" {
                inBrackets = true
                out.append(c)
                // A leading ^ and a leading ] belong to the bracket expression.
                if chars.first == "^" { out.append(chars.removeFirst()) }
                if chars.first == "]" { out.append(chars.removeFirst()) }
            } else if inBrackets, c == "[", let kind = chars.first, kind == ":" || kind == "." || kind == "=" {
                // [:alpha:] and friends: copy through their closing `:]`.
                out.append(c)
                while let d = chars.popFirst() {
                    out.append(d)
                    if d == kind, chars.first == "]" { out.append(chars.removeFirst()); break }
                }
            } else {
                if inBrackets, c == "]" { inBrackets = false }
                out.append(c)
            }
        }
        return out
    }
}
