import SpillwayCore
import Testing

@testable import SpillwayConfiguration

@Suite struct OriginTests {
    let run: [String: String] = [
        "SPILLWAY_NAME": "billing", "SPILLWAY_CONTAINER_ID": "c0ffee", "SPILLWAY_TAG": "app.{name}",
        "SPILLWAY_LABELS": "team=pay\"ments", "SPILLWAY_ENV": "REGION", "REGION": "eu-1\n",
        "SPILLWAY_CLOUDWATCH_STREAM": "s-{id}",
    ]

    @Test func theOriginRoundTripsThroughItsEncoding() throws {
        let origin = try parse(run).origin
        #expect(origin.fields.containerName == "billing" && origin.fields.containerID == "c0ffee")
        #expect(origin.tag == "app.billing" && origin.stream == "s-c0ffee")
        #expect(origin.fields.extra.map(\.name) == ["team", "REGION"])
        #expect(RecordOrigin(decoding: origin.encoded()) == origin)
        let anonymous = RecordOrigin(fields: RecordFields(containerName: "x"), tag: "t", stream: "s")
        #expect(RecordOrigin(decoding: anonymous.encoded()) == anonymous)
    }

    @Test func damagedOriginsAreNotDecoded() {
        for text in ["", "{", #"{"container_name":"a"}"#, #"{"container_name":"a","tag":"t","stream":"s","fields":[["k"]]}"#,
                     #"{"container_name":"a","container_id":1,"tag":"t","stream":"s","fields":[]}"#] {
            #expect(RecordOrigin(decoding: Array(text.utf8)) == nil, "\(text)")
        }
    }

    @Test func aDrainTakesTheRecordedOriginUnlessTheEnvironmentSetsIt() throws {
        let origin = try parse(run).origin
        let plain = try parse(["SPILLWAY_STORAGE_PATH": "/x"], command: []).replaying(origin, environment: [:])
        #expect(plain.origin == origin)
        #expect(plain.forward.fields == origin.fields)

        let env = ["SPILLWAY_NAME": "renamed", "SPILLWAY_TAG": "other"]
        let overridden = try parse(env, command: []).replaying(origin, environment: env)
        #expect(overridden.recordFields == RecordFields(containerName: "renamed"))
        #expect(overridden.forward.tag == "other")
        #expect(overridden.cloudwatch.stream == "s-c0ffee")
    }
}
