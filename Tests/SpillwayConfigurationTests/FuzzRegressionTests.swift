@testable import SpillwayConfiguration
import SpillwayCore
import Testing

/// Inputs that crashed the configuration parser (Tests/Fuzz/corpus/FuzzConfiguration).
@Suite struct FuzzRegressionTests {
    /// crash-duration-overflow (found reading Parse.duration, confirmed with FuzzConfiguration):
    /// the whole part of a term fitted an Int64 of milliseconds, its fraction pushed it over (a trap).
    @Test func aDurationJustPastInt64MillisecondsIsTooLongNotACrash() {
        FuzzEntry.environment(Array("FLUSH_INTERVAL=9223372036854775.999s\n".utf8))
        let error = parseError(["SPILLWAY_FLUSH_INTERVAL": "9223372036854775.999s"])
        #expect(error?.variable == "SPILLWAY_FLUSH_INTERVAL")
        #expect(error?.description.contains("too long") == true)
    }
}
