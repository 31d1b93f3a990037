import SpillwayCore
import SpillwayForward
import SpillwayMetrics

// Value parsers: each takes the raw string and throws `Expected` with what would be accepted.
// Hand-written over UTF-8 because the module may not use Foundation's scanners.

enum Parse {
    static let sizeExpected = "a size such as 512k, 1m, 1.5m, 1 MiB or 2g (Docker's form)"
    static let durationExpected = "a duration such as 250ms, 5s, 1m30s or 1.5h (Go's form)"
    static let boolExpected = "true or false (also 1/0, yes/no)"
    static let addressExpected = "tcp://host:port, tls://host:port or unix:///absolute/path (comma-separated)"

    // MARK: scalars

    /// Bytes, or k/m/g (binary, as Docker's `1m` = 1,048,576), case-insensitive, with an
    /// optional "i" and "b" ("1MiB", "1mb", "512b"); a fraction is floored ("1.5k" = 1536).
    static func size(_ raw: String) throws(Expected) -> Int {
        let s = Array(trimmed(raw).lowercased().utf8)
        guard let (whole, frac, fracDigits, rest) = decimal(s) else { throw Expected(sizeExpected) }
        var i = rest
        if i < s.count, s[i] == UInt8(ascii: " ") { i += 1 }  // Docker allows "1 m"
        var shift = 0
        let units: [UInt8: Int] = [
            UInt8(ascii: "k"): 10, UInt8(ascii: "m"): 20, UInt8(ascii: "g"): 30, UInt8(ascii: "t"): 40, UInt8(ascii: "p"): 50,
        ]
        if i < s.count, let unit = units[s[i]] {
            shift = unit
            i += 1
            if i < s.count, s[i] == UInt8(ascii: "i") { i += 1 }
        }
        if i < s.count, s[i] == UInt8(ascii: "b") { i += 1 }
        guard i == s.count else { throw Expected(sizeExpected) }
        let multiplier = 1 << shift
        let (w, o1) = whole.multipliedReportingOverflow(by: multiplier)
        let (f, o2) = frac.multipliedReportingOverflow(by: multiplier)
        guard !o1, !o2 else { throw Expected(sizeExpected + " (this one is too large)") }
        let (total, o3) = w.addingReportingOverflow(f / pow10(fracDigits))
        guard !o3 else { throw Expected(sizeExpected + " (this one is too large)") }
        return total
    }

    /// Go's `time.ParseDuration` form: one or more number+unit terms ("250ms", "1.5s", "1m30s",
    /// ".5h"), units ns, us (µs), ms, s, m, h, an optional leading "+"; "0" alone needs no unit.
    /// Any other bare number is refused: "5" could mean seconds or milliseconds. Nanoseconds
    /// beyond the last digit are truncated, as Go does; negative durations are refused.
    static func duration(_ raw: String) throws(Expected) -> Duration {
        var s = Array(trimmed(raw).utf8)
        if s.first == UInt8(ascii: "+") { s.removeFirst() }
        if s == Array("0".utf8) { return .zero }
        guard !s.isEmpty else { throw Expected(durationExpected) }
        let units: [(String, Int64)] = [
            ("ns", 1), ("us", 1000), ("µs", 1000), ("μs", 1000), ("ms", 1_000_000),
            ("s", 1_000_000_000), ("m", 60_000_000_000), ("h", 3_600_000_000_000),
        ]
        let tooLong = Expected(durationExpected + " (this one is too long)")
        var i = 0
        var totalNs: Int64 = 0
        while i < s.count {
            var whole: Int64 = 0, frac: Int64 = 0, scale: Int64 = 1, digits = 0
            while i < s.count, (0x30...0x39).contains(s[i]) {
                let (m, o1) = whole.multipliedReportingOverflow(by: 10)
                let (a, o2) = m.addingReportingOverflow(Int64(s[i] - 0x30))
                guard !o1, !o2 else { throw tooLong }
                whole = a
                digits += 1
                i += 1
            }
            if i < s.count, s[i] == UInt8(ascii: ".") {
                i += 1
                while i < s.count, (0x30...0x39).contains(s[i]) {
                    if scale < 1_000_000_000_000_000_000 {  // digits past 18 are truncated
                        frac = frac * 10 + Int64(s[i] - 0x30)
                        scale *= 10
                    }
                    digits += 1
                    i += 1
                }
            }
            guard digits > 0 else { throw Expected(durationExpected) }
            var unitStart = i
            while unitStart < s.count, !(0x30...0x39).contains(s[unitStart]), s[unitStart] != UInt8(ascii: ".") {
                unitStart += 1
            }
            let unitText = String(decoding: s[i..<unitStart], as: UTF8.self).lowercased()
            guard let unitNs = units.first(where: { $0.0 == unitText })?.1 else { throw Expected(durationExpected) }
            i = unitStart
            let (w, o1) = whole.multipliedReportingOverflow(by: unitNs)
            // frac / scale < 1, so the fraction's nanoseconds fit; the product may not.
            let fractionNs = scale.dividingFullWidth(frac.multipliedFullWidth(by: unitNs)).quotient
            let (term, o2) = w.addingReportingOverflow(fractionNs)
            let (sum, o3) = totalNs.addingReportingOverflow(term)
            guard !o1, !o2, !o3 else { throw tooLong }
            totalNs = sum
        }
        return .nanoseconds(totalNs)
    }

    static func bool(_ raw: String) throws(Expected) -> Bool {
        switch trimmed(raw).lowercased() {
        case "true", "1", "yes": return true
        case "false", "0", "no": return false
        default: throw Expected(boolExpected)
        }
    }

    /// Case-insensitive match against raw values, then aliases; the error lists every choice.
    static func choice<E: RawRepresentable & CaseIterable>(
        _ raw: String, _: E.Type, aliases: [String: E] = [:], aliasText: String = ""
    ) throws(Expected) -> E where E.RawValue == String {
        let s = trimmed(raw).lowercased()
        if let e = E.allCases.first(where: { $0.rawValue == s }) { return e }
        if let e = aliases[s] { return e }
        throw Expected("one of " + E.allCases.map(\.rawValue).joined(separator: ", ") + aliasText)
    }

    /// A value that must not be empty: an empty variable is refused rather than read as unset,
    /// so a templated `SPILLWAY_X=${UNSET}` cannot silently drop a setting.
    static func nonEmpty(_ raw: String, _ what: String) throws(Expected) -> String {
        guard !raw.isEmpty else { throw Expected("\(what) (unset the variable to get the default)") }
        return raw
    }

    static func integer(_ raw: String) -> Int? {
        let s = Array(trimmed(raw).utf8)
        guard let (whole, _, digits, end) = decimal(s), digits == 0, end == s.count else { return nil }
        return whole
    }

    // MARK: names

    static func isNameCharacter(_ c: Unicode.Scalar) -> Bool {
        switch c {
        case "a"..."z", "A"..."Z", "0"..."9", ".", "_", "-": return true
        default: return false
        }
    }

    /// The instance name from the command: basename, characters outside [A-Za-z0-9._-] as "_".
    static func defaultName(command: [String]) -> String {
        let base = command.first?.split(separator: "/").last.map(String.init) ?? ""
        var name = ""
        for c in base.unicodeScalars { name.unicodeScalars.append(isNameCharacter(c) ? c : "_") }
        // "." and ".." would escape the storage directory.
        return name.isEmpty || name == "." || name == ".." ? "spillway" : name
    }

    static func name(_ raw: String) throws(Expected) -> String {
        let what = "a name of letters, digits, '.', '_' and '-' (at most 255)"
        guard !raw.isEmpty, raw != ".", raw != "..", raw.utf8.count <= 255,
              raw.unicodeScalars.allSatisfy(isNameCharacter) else { throw Expected(what) }
        return raw
    }

    // MARK: lists

    /// "k=v,k=v"; whitespace around keys and values is trimmed and empty items are skipped.
    static func labels(_ raw: String) throws(Expected) -> [RecordFields.Field] {
        var out: [RecordFields.Field] = []
        for item in raw.split(separator: ",", omittingEmptySubsequences: false) {
            let t = trimmed(String(item))
            if t.isEmpty { continue }
            guard let eq = t.firstIndex(of: "=") else { throw Expected("k=v pairs separated by commas; \"\(t)\" has no '='") }
            let key = trimmed(String(t[..<eq]))
            let value = trimmed(String(t[t.index(after: eq)...]))
            guard !key.isEmpty else { throw Expected("k=v pairs separated by commas; \"\(t)\" has an empty key") }
            guard !Configuration.reservedRecordFields.contains(key) else {
                throw Expected("label keys other than spillway's own record fields; \"\(key)\" is one")
            }
            guard !out.contains(where: { $0.name == key }) else { throw Expected("each label key once; \"\(key)\" repeats") }
            out.append(.init(name: key, value: value))
        }
        return out
    }

    /// Comma-separated names of environment variables; duplicates are kept once.
    static func envNames(_ raw: String) throws(Expected) -> [String] {
        var out: [String] = []
        for item in raw.split(separator: ",") {
            let name = trimmed(String(item))
            if name.isEmpty || out.contains(name) { continue }
            guard !name.contains(text: "=") else { throw Expected("names of environment variables separated by commas") }
            // These hold secrets; copying them into every record would publish them.
            guard !name.hasPrefix("SPILLWAY_"), !secretEnvironment.contains(name) else {
                throw Expected("names of environment variables that hold no secrets; \(name) is refused")
            }
            guard !Configuration.reservedRecordFields.contains(name) else {
                throw Expected("names other than spillway's own record fields; \"\(name)\" is one")
            }
            out.append(name)
        }
        return out
    }

    static let secretEnvironment: Set<String> = [
        "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    ]

    // MARK: forward addresses

    static func forwardAddresses(_ raw: String) throws(Expected) -> [ForwardEndpoint] {
        var out: [ForwardEndpoint] = []
        for item in raw.split(separator: ",") {
            let t = trimmed(String(item))
            if t.isEmpty { continue }
            out.append(try forwardEndpoint(t))
        }
        guard !out.isEmpty else { throw Expected(addressExpected) }
        return out
    }

    static let serverOptionsExpected = "options after '?' joined with '&': weight=N (a whole number, 0 = no traffic) and standby=true or false"

    /// An address with its server options: `tcp://agg-a:24224?weight=60&standby=false`.
    static func forwardEndpoint(_ s: String) throws(Expected) -> ForwardEndpoint {
        guard let question = s.firstIndex(of: "?") else { return ForwardEndpoint(try forwardAddress(s)) }
        var endpoint = ForwardEndpoint(try forwardAddress(String(s[..<question])))
        func fail(_ why: String) -> Expected { Expected(serverOptionsExpected + "; \"\(s)\" " + why) }
        var seen: Set<String> = []
        for option in s[s.index(after: question)...].split(separator: "&", omittingEmptySubsequences: false) {
            let parts = option.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = trimmed(String(parts[0])).lowercased()
            let value = parts.count > 1 ? trimmed(String(parts[1])) : ""
            guard seen.insert(key).inserted else { throw fail("gives \(key) twice") }
            switch key {
            case "weight":
                guard let w = integer(value), value.allSatisfy(\.isASCII), (0...1_000_000).contains(w) else {
                    throw fail("has weight \"\(value)\", not a whole number from 0 to 1000000")
                }
                endpoint.weight = w
            case "standby":
                do { endpoint.standby = try bool(value) } catch { throw fail("has standby \"\(value)\", not true or false") }
            default:
                throw fail("has an unknown option \"\(option)\"")
            }
        }
        return endpoint
    }

    static let metricsAddressExpected = "tcp://127.0.0.1:PORT, tcp://[::1]:PORT or unix:///absolute/path"

    /// The forward address syntax, without TLS and without a list.
    static func metricsAddress(_ s: String) throws(Expected) -> MetricsAddress {
        let t = trimmed(s)
        let endpoint: ForwardEndpoint.Address
        do {
            endpoint = try forwardAddress(t)
        } catch {
            throw Expected(metricsAddressExpected + error.text.drop { $0 != ";" })
        }
        switch endpoint {
        case .tcp(let host, let port): return .tcp(host: host, port: port)
        case .unix(let path): return .unix(path: path)
        default: throw Expected(metricsAddressExpected + "; \"\(t)\" asks for TLS, which the metrics endpoint does not serve")
        }
    }

    static func forwardAddress(_ s: String) throws(Expected) -> ForwardEndpoint.Address {
        func fail(_ why: String) -> Expected { Expected(addressExpected + "; \"\(s)\" " + why) }
        guard let sep = s.firstRange(ofText: "://") else { throw fail("has no scheme") }
        let scheme = s[..<sep.lowerBound].lowercased()
        let rest = String(s[sep.upperBound...])
        switch scheme {
        case "unix":
            guard rest.hasPrefix("/"), rest != "/" else { throw fail("needs an absolute path") }
            // sun_path holds 108 bytes including the terminating NUL.
            guard rest.utf8.count <= 107, !rest.utf8.contains(0) else { throw fail("has a path longer than 107 bytes") }
            return .unix(path: rest)
        case "tcp", "tls":
            let (host, port) = try hostPort(rest, fail)
            return scheme == "tcp" ? .tcp(host: host, port: port) : .tls(host: host, port: port)
        default:
            throw fail("has an unknown scheme")
        }
    }

    private static func hostPort(_ s: String, _ fail: (String) -> Expected) throws(Expected) -> (String, Int) {
        let host: Substring
        let portText: Substring
        if s.hasPrefix("[") {
            guard let close = s.firstIndex(of: "]") else { throw fail("has an unclosed '['") }
            host = s[s.index(after: s.startIndex)..<close]
            let after = s[s.index(after: close)...]
            guard after.hasPrefix(":") else { throw fail("needs a port") }
            portText = after.dropFirst()
            // Hex groups (with an optional dotted IPv4 tail), then an optional %zone (interface name).
            let parts = host.split(separator: "%", maxSplits: 1, omittingEmptySubsequences: false)
            let address = parts[0], zone = parts.count > 1 ? parts[1] : nil
            let ok = address.contains(where: { $0 == ":" })
                && address.unicodeScalars.allSatisfy { $0.properties.isASCIIHexDigit || $0 == ":" || $0 == "." }
                && (zone.map { !$0.isEmpty && $0.unicodeScalars.allSatisfy(isNameCharacter) } ?? true)
            guard ok else { throw fail("has an invalid IPv6 address") }
        } else {
            guard let colon = s.lastIndex(of: ":") else { throw fail("needs a port") }
            host = s[..<colon]
            portText = s[s.index(after: colon)...]
            guard !host.contains(text: ":") else { throw fail("needs brackets around an IPv6 address") }
            guard !host.isEmpty, host.unicodeScalars.allSatisfy(isNameCharacter) else { throw fail("has an invalid host") }
        }
        guard !host.isEmpty else { throw fail("has an empty host") }
        guard let port = integer(String(portText)), portText.allSatisfy(\.isASCII), portText.count <= 5,
              (1...65535).contains(port) else { throw fail("needs a port from 1 to 65535") }
        return (String(host), port)
    }

    // MARK: helpers

    /// Digits with an optional fraction: (whole, fraction digits as an integer, their count, end index).
    static func decimal(_ s: [UInt8]) -> (Int, Int, Int, Int)? {
        var i = 0
        var whole = 0
        while i < s.count, s[i] >= 0x30, s[i] <= 0x39 {
            let (m, o1) = whole.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Int(s[i] - 0x30))
            guard !o1, !o2 else { return nil }
            whole = a
            i += 1
        }
        guard i > 0 else { return nil }
        var frac = 0
        var digits = 0
        if i < s.count, s[i] == UInt8(ascii: ".") {
            i += 1
            while i < s.count, s[i] >= 0x30, s[i] <= 0x39 {
                guard digits < 9 else { return nil }
                frac = frac * 10 + Int(s[i] - 0x30)
                digits += 1
                i += 1
            }
            guard digits > 0 else { return nil }
        }
        return (whole, frac, digits, i)
    }

    static func pow10(_ n: Int) -> Int {
        var p = 1
        for _ in 0..<n { p *= 10 }
        return p
    }

    static func trimmed(_ s: String) -> String {
        let isSpace: (Unicode.Scalar) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        let scalars = s.unicodeScalars
        guard let first = scalars.firstIndex(where: { !isSpace($0) }),
              let last = scalars.lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(scalars[first...last])
    }

    /// Edit distance, for "did you mean" on misspelt variable names.
    static func levenshtein(_ a: String, _ b: String) -> Int {
        let a = Array(a.utf8), b = Array(b.utf8)
        if a.isEmpty { return b.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in stride(from: 1, through: b.count, by: 1) {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}

/// What a value parser says was expected; the caller adds the variable and value.
struct Expected: Error, Equatable {
    var text: String
    init(_ text: String) { self.text = text }
}
