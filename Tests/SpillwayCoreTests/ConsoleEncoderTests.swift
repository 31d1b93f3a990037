import Testing
@testable import SpillwayCore

private func encode(_ line: [UInt8], partial: PartialInfo? = nil, fields: RecordFields = RecordFields(containerName: "app")) -> String {
    var out: [UInt8] = []
    var cache = ConsoleEncoder.SecondCache()
    let record = LogRecord(time: Timestamp(nanoseconds: 1_767_261_600_123_456_789), stream: .stderr,
                           line: ArraySlice(line), partial: partial)
    ConsoleEncoder(fields: fields).encode(record, into: &out, cache: &cache)
    return String(decoding: out, as: UTF8.self)
}

@Suite struct ConsoleEncoderTests {
    @Test func encodesTheDocumentedFields() {
        #expect(encode(Array("hello".utf8)) ==
            #"{"time":"2026-01-01T10:00:00.123456789Z","source":"stderr","log":"hello","container_name":"app"}"# + "\n")
    }

    @Test func escapesJSONAndReplacesInvalidUTF8() {
        let line: [UInt8] = Array(#"a"b\c"#.utf8) + [9, 1, 0x7f, 0xff, 0xC3, 0xA9, 0xE2, 0x82]
        let json = encode(line)
        #expect(json.contains("\"log\":\"a\\\"b\\\\c\\t\\u0001\\u007f\u{FFFD}é\u{FFFD}\u{FFFD}\""))
    }

    @Test func longPlainLinesTakeTheFastPathIntact() {
        let text = String(repeating: "abcdefgh", count: 20) + "xyz"
        #expect(encode(Array(text.utf8)).contains("\"log\":\"\(text)\""))
    }

    @Test func partialAndExtraFields() {
        let id = PartialID(high: 1, low: 2)
        let json = encode([65], partial: PartialInfo(id: id, ordinal: 3, isLast: true),
                          fields: RecordFields(containerName: "n", containerID: "abc", extra: [.init(name: "env", value: "prod")]))
        #expect(json.contains(#""container_name":"n","container_id":"abc","env":"prod","partial_message":true,"partial_id":"00000000000000010000000000000002","partial_ordinal":3,"partial_last":true}"#))
    }

    @Test func rfc3339HandlesEpochLeapYearsAndNegativeTimes() {
        #expect(RFC3339.format(Timestamp(nanoseconds: 0)) == "1970-01-01T00:00:00.000000000Z")
        #expect(RFC3339.format(Timestamp(nanoseconds: 951_782_400 * 1_000_000_000), fractional: false) == "2000-02-29T00:00:00Z")
        #expect(RFC3339.format(Timestamp(nanoseconds: -1)) == "1969-12-31T23:59:59.999999999Z")
    }
}
