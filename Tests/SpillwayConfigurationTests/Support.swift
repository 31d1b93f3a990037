@testable import SpillwayConfiguration
import SpillwayCore
import SpillwayDiskBuffer
import SpillwayForward

/// Reads with a fixed command and host name so expectations can be literal; features this build
/// does not have yet are read too (ErrorAndOutputTests checks that `parse` refuses them).
func parse(_ env: [String: String], command: [String] = ["/usr/local/bin/myapp"], hostname: String = "host1")
    throws(ConfigurationError) -> Configuration
{
    try Configuration.read(environment: env, command: command, hostname: hostname)
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
