import SpillwayCore

extension Configuration {
    /// A setting whose feature this binary does not have yet. Recognised and refused (125),
    /// never ignored: an ignored seccomp profile would be a security hole.
    public struct NotYetBuilt: Sendable, Equatable {
        public let variable: String
        /// The effective value that is refused (as --check-config prints it); nil = any value.
        public let value: String?
        public let feature: String
    }

    /// Delete a row when its feature lands.
    public static let notYetBuilt: [NotYetBuilt] = [
        .init(variable: "SPILLWAY_SECCOMP_SELF", value: "true", feature: "seccomp confinement of spillway itself"),
        .init(variable: "SPILLWAY_MULTILINE_PATTERN", value: nil, feature: "multiline grouping"),
    ]

    /// The first setting of `c` this build cannot honour, if any. Rows with a value compare the
    /// effective value (so aliases such as awslogs match); rows without compare presence.
    static func unavailable(_ c: Configuration, environment: [String: String]) -> ConfigurationError? {
        for row in notYetBuilt {
            let hit: Bool
            if let value = row.value {
                hit = variable(named: row.variable)?.effective(c) == value
            } else {
                hit = c.origins[row.variable] != nil  // set, or given by the logConfiguration
            }
            if hit {
                return ConfigurationError(
                    variable: row.variable + (environment[row.variable] == nil ? " (from \(c.origins[row.variable] ?? ""))" : ""),
                    value: environment[row.variable] ?? variable(named: row.variable)?.effective(c),
                    expected: "\(row.feature) is not available in this build of spillway yet", kind: .unavailable
                )
            }
        }
        return nil
    }
}
