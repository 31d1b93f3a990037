import SpillwayCore
import Testing

@testable import SpillwayCloudWatch

/// Inputs the fuzz targets crashed on (scripts/fuzz; the same files are in Tests/Fuzz/corpus).
@Suite struct FuzzRegressionTests {
    /// FuzzJSON crash-expiration-year-4052: a credential endpoint's `Expiration` after 2262 made
    /// the nanoseconds since 1970 overflow an Int64 (a trap). Such a date is now unparseable.
    @Test func credentialsExpiringAfter2262AreRefusedNotACrash() {
        let body = Array(
            #"{"Code":"Success","AccessKeyId":"AK","SecretAccessKey":"SK","Token":"T","Expiration":"4052-01-01T10:00:00Z"}"#.utf8)
        #expect(AWSCredentials.fromJSON(body) == nil)
        FuzzEntry.json(body)
        #expect(AWSTime.parse("4052-01-01T10:00:00Z") == nil)
        #expect(AWSTime.parse("2262-04-11T23:47:16Z")?.nanoseconds == 9_223_372_036_000_000_000)
        #expect(AWSTime.parse("2262-04-11T23:47:16.9Z") == nil)
        #expect(AWSTime.parse("1677-09-21T00:12:44Z")?.seconds == -9_223_372_036)
        #expect(AWSTime.parse("1677-09-21T00:12:43Z") == nil)
        #expect(AWSTime.parse("0001-01-01T00:00:00Z") == nil)
    }

    /// FuzzHTTPResponse crash-expiration-year-4052: the same overflow through a container
    /// credentials answer (status 200, no error header, a JSON body with an offset date).
    @Test func containerCredentialsAnswerExpiringIn4052() {
        let json = #"{"AccessKeyId":"ASIA2","# + String(repeating: "\r", count: 126)
            + #""SecretAccessKey":"s","Uoken":"t","Expiration":"4052-01-01T10:00:00+02:00"}"#
        let input: [UInt8] = [0x00, 0xC8, 0x0A] + Array(json.utf8)
        FuzzEntry.httpResponse(input)
        #expect(AWSCredentials.fromJSON(Array(json.utf8)) == nil)
    }
}
