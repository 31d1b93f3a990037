import SpillwayCore
import SpillwaySystem

// The value readers the rows of LogOptions.rows share: Docker's and Fluent Bit's spellings of
// booleans, durations, addresses and templates, turned into what the SPILLWAY_* variables read.
extension LogOptions {
    /// Sets a variable to the value unchanged (checked later by the variable itself).
    static func to(_ variable: String) -> @Sendable (String, inout Context) throws(Expected) -> Void {
        { v, c throws(Expected) in c.set(variable, v) }
    }

    /// A literal value as a spillway template: braces doubled.
    static func literal(_ s: String) -> String {
        s.replacingEvery("{", with: "{{").replacingEvery("}", with: "}}")
    }

    /// Docker's booleans: Go's strconv.ParseBool, exactly.
    static func goBool(_ v: String) throws(Expected) -> String {
        switch v {
        case "1", "t", "T", "TRUE", "true", "True": "true"
        case "0", "f", "F", "FALSE", "false", "False": "false"
        default: throw Expected("a boolean as Go reads it: 1, t, T, TRUE, true, True, 0, f, F, FALSE, false or False")
        }
    }

    /// A Docker boolean mapped onto a variable.
    static func bool(_ variable: String) -> @Sendable (String, inout Context) throws(Expected) -> Void {
        { v, c throws(Expected) in c.set(variable, try goBool(v)) }
    }

    /// A Docker boolean checked only (spillway already behaves as either value asks).
    static let checkedBool: @Sendable (String, inout Context) throws(Expected) -> Void = { v, _ throws(Expected) in _ = try goBool(v) }

    /// fluent-logger-golang's timeouts, where 0 means none: spillway keeps its own default then,
    /// since it never waits forever.
    static func timeout(_ variable: String) -> @Sendable (String, inout Context) throws(Expected) -> Void {
        { v, c throws(Expected) in if try Parse.duration(v) != .zero { c.set(variable, v) } }
    }

    /// Fluent Bit's booleans (on/off as well as true/false).
    static func fluentBitBool(_ v: String) throws(Expected) -> String {
        switch Parse.trimmed(v).lowercased() {
        case "on", "true", "yes", "1": "true"
        case "off", "false", "no", "0": "false"
        default: throw Expected("on, off, true or false")
        }
    }

    /// Docker's fluentd-address: `host`, `host:port`, `tcp://`, `tls://` or `unix://`; port 24224 by default.
    static func fluentdAddress(_ v: String) throws(Expected) -> String {
        let s = Parse.trimmed(v)
        if s.hasPrefix("unix://") { return s }
        var rest = Substring(s)
        var scheme = "tcp"
        for prefix in ["tcp://", "tls://"] where rest.hasPrefix(prefix) {
            scheme = String(prefix.dropLast(3))
            rest = rest.dropFirst(prefix.count)
        }
        guard !rest.isEmpty, !rest.contains(text: "/") else {
            throw Expected("host:port, tcp://host:port, tls://host:port or unix:///path")
        }
        let hasPort = rest.hasPrefix("[") ? rest.contains(text: "]:") : rest.contains(text: ":")
        return "\(scheme)://\(rest)\(hasPort ? "" : ":24224")"
    }

    /// Docker's tag template as a spillway template: {{.Name}}, {{.ID}} (12 characters),
    /// {{.FullID}} and {{.DaemonName}}; spillway knows no image.
    static func goTemplate(_ v: String) throws(Expected) -> String {
        var out = ""
        var rest = Substring(v)
        while let open = rest.firstRange(ofText: "{{") {
            out += literal(String(rest[..<open.lowerBound]))
            guard let close = rest[open.upperBound...].firstRange(ofText: "}}") else { throw Expected("a Go template whose {{ is closed") }
            let field = Parse.trimmed(String(rest[open.upperBound..<close.lowerBound]))
            switch field {
            case ".Name": out += "{name}"
            case ".ID": out += "{short_id}"
            case ".FullID": out += "{id}"
            case ".DaemonName": out += "spillway"
            default: throw Expected("a tag template with {{.Name}}, {{.ID}}, {{.FullID}} or {{.DaemonName}}; spillway cannot know \(field)")
            }
            rest = rest[close.upperBound...]
        }
        return out + literal(String(rest))
    }

    /// A container definition's dockerLabels: the only container labels spillway knows.
    static func dockerLabels(_ container: JSONValue?) throws(Expected) -> [String: JSONValue] {
        guard case .object(let labels)? = container?["dockerLabels"] else {
            throw Expected("a container definition with dockerLabels (spillway knows no other container labels); or SPILLWAY_LABELS")
        }
        return labels
    }

    /// Docker's labels-regex and env-regex are Go regexps, matched anywhere in a name.
    static func compile(_ pattern: String) throws(Expected) -> PosixRegex {
        do { return try PosixRegex(pattern) } catch { throw Expected("a valid regular expression: \(error.reason)") }
    }

    /// Docker's `labels`: names of container labels, whose values are the container definition's dockerLabels.
    static func dockerLabels(_ v: String, _ container: JSONValue?) throws(Expected) -> String {
        let labels = try dockerLabels(container)
        var pairs: [String] = []
        for name in v.split(separator: ",").map({ Parse.trimmed(String($0)) }) where !name.isEmpty {
            if let value = labels[name]?.string { pairs.append("\(name)=\(value)") }
        }
        return pairs.joined(separator: ",")
    }
}
