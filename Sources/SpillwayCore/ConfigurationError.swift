/// A configuration problem found before the workload starts (spillway exits 125), wherever it is
/// found: parsing the environment, or a check with side effects when a sink or the disk buffer
/// is set up (a TLS file that cannot be loaded, a locked storage directory).
/// `description` is one line naming the variable, its value and what was expected.
public struct ConfigurationError: Error, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// A malformed value, a missing required value or a conflict between variables.
        case invalid
        /// A `SPILLWAY_*` name spillway does not know; `expected` holds the hint.
        case unknownVariable
        /// The value is well-formed but what it names cannot be used; `expected` holds why.
        case unusable
    }

    /// Never printed, never quoted in errors.
    public static let secretVariables: Set<String> = ["SPILLWAY_FORWARD_SHARED_KEY", "SPILLWAY_FORWARD_PASSWORD"]

    public var variable: String
    /// The offending value; nil when the variable is not set. For secret variables it is
    /// always "(redacted)", so no caller can print a secret by accident.
    public var value: String?
    public var expected: String
    public var kind: Kind

    public init(variable: String, value: String?, expected: String, kind: Kind = .invalid) {
        self.variable = variable
        // Unknown names may be misspelt secrets (SPILLWAY_FORWARD_SHARED_KY): never keep their value.
        if kind == .unknownVariable {
            self.value = nil
        } else if let value, Self.secretVariables.contains(variable) {
            self.value = value.isEmpty ? value : "(redacted)"
        } else {
            self.value = value
        }
        self.expected = expected
        self.kind = kind
    }

    /// A setup check that failed: `variable: message`.
    public init(variable: String, message: String) {
        self.init(variable: variable, value: nil, expected: message, kind: .unusable)
    }

    public var description: String {
        switch kind {
        case .unknownVariable:
            return "\(variable): unknown variable; \(expected)"
        case .unusable:
            return "\(variable): \(expected)"
        case .invalid:
            return "\(subject): expected \(expected)"
        }
    }

    private var subject: String {
        guard let value else { return "\(variable) (not set)" }
        if value == "(redacted)" && Self.secretVariables.contains(variable) {
            return "\(variable)=(redacted)"
        }
        return "\(variable)=\"\(Self.escaped(value, quote: true))\""
    }
}

extension ConfigurationError {
    /// Keeps any value on one printable line: control characters become escapes.
    public static func escaped(_ s: String, quote: Bool = false) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\\" where quote: out += "\\\\"
            case "\"" where quote: out += "\\\""
            default:
                if scalar.value < 0x20 || scalar.value == 0x7f {
                    out += "\\u{" + String(scalar.value, radix: 16) + "}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }
}
