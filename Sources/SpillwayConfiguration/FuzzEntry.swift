import SpillwayCore

/// The entry point of the fuzz target Sources/FuzzConfiguration (scripts/fuzz): an environment,
/// the configuration's only input, read the way a start and `--drain` read it. Public only for
/// that target; nothing else calls it.
public enum FuzzEntry {
    /// `bytes` as lines of `KEY=VALUE` (UTF-8, decoded leniently); a key not starting with
    /// `SPILLWAY_` or `AWS_` gets `SPILLWAY_` in front; a line without `=` is skipped. Parsed for a
    /// run, then for `--drain`; a refusal's message is rendered too.
    public static func environment(_ bytes: [UInt8]) {
        var environment: [String: String] = [:]
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            var key = String(line[..<eq])
            if !key.hasPrefix("SPILLWAY_") && !key.hasPrefix("AWS_") { key = "SPILLWAY_" + key }
            environment[key] = String(line[line.index(after: eq)...])
        }
        for purpose in [Configuration.Purpose.run, .drain] {
            do {
                _ = try Configuration.parse(
                    environment: environment, command: ["/usr/local/bin/app", "--flag"], hostname: "fuzzhost",
                    for: purpose)
            } catch {
                _ = error.description
            }
        }
    }
}
