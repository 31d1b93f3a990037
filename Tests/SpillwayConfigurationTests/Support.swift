@testable import SpillwayConfiguration

/// Parses with a fixed command and host name so expectations can be literal.
func parse(_ env: [String: String], command: [String] = ["/usr/local/bin/myapp"], hostname: String = "host1")
    throws(ConfigurationError) -> Configuration
{
    try Configuration.parse(environment: env, command: command, hostname: hostname)
}

/// The error `parse` throws, or nil if it succeeds.
func parseError(_ env: [String: String], command: [String] = ["/usr/local/bin/myapp"]) -> ConfigurationError? {
    do {
        _ = try parse(env, command: command)
        return nil
    } catch {
        return error
    }
}
