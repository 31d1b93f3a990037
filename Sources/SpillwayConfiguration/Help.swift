import SpillwayCore

extension Configuration {
    /// Every variable with its default and meaning, grouped as in README, for `--help`.
    public static func helpText() -> String {
        var out = "Environment variables [default]:\n"
        for section in Variable.Section.allCases {
            out += "\n\(section.rawValue):\n"
            for v in variables where v.section == section {
                out += "  \(v.name) [\(v.defaultText)]\n      \(v.meaning)\n"
            }
        }
        out += "\nSizes as Docker writes them: a number, then k, m, g, t or p, optional i and b (binary: 1m = 1 MiB\n"
            + "= 1048576); durations as Go writes them: 250ms, 1.5s, 1m30s, 2h (units ns, us, ms, s, m, h).\n"
        return out
    }

    /// The effective value of every variable, one `SPILLWAY_X=value` line each, defaults
    /// included, for `spillway --check-config`. Secrets show only whether they are set.
    public func redactedDescription() -> String {
        var lines: [String] = []
        for v in Self.variables {
            let value = v.effective(self)
            let shown: String
            if v.secret {
                shown = value == nil ? "(unset)" : "(set, redacted)"
            } else {
                shown = value.map { ConfigurationError.escaped($0) } ?? v.unsetText
            }
            lines.append("\(v.name)=\(shown)  # \(origins[v.name] ?? "default")")
        }
        return lines.joined(separator: "\n")
    }
}

/// Bytes in the largest unit that divides them exactly, so `1m` prints back as `1m`.
func formatSize(_ bytes: Int) -> String {
    for (shift, unit) in [(30, "g"), (20, "m"), (10, "k")] where bytes != 0 && bytes % (1 << shift) == 0 {
        return "\(bytes >> shift)\(unit)"
    }
    return "\(bytes)"
}
