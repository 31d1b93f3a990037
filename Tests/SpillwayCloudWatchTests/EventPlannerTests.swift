import SpillwayCore
import Testing

@testable import SpillwayCloudWatch

@Suite struct EventPlannerTests {
    let planner = EventPlanner()

    @Test func oneRequestForASmallBatch() {
        let plan = planner.plan([record("a"), record("b", ms: 1)], now: now)
        #expect(plan.requests == [0..<2])
        #expect(plan.messages(0) == ["a", "b"])
        #expect(plan.events.map(\.timestamp) == [1_767_261_600_000, 1_767_261_600_001])
        #expect(plan.rejected.isEmpty)
    }

    @Test func recordMessagesAreTheRecordAsJSON() throws {
        var json = EventPlanner()
        json.body = .record(ConsoleEncoder(fields: RecordFields(containerName: "app")))
        let plan = json.plan([record("he said \"hi\"", .stderr), record("")], now: now)
        let message = try JSONValue.parse(Array(plan.messages(0)[0].utf8))
        #expect(message["log"]?.string == "he said \"hi\"")
        #expect(message["source"]?.string == "stderr" && message["container_name"]?.string == "app")
        #expect(plan.rejected[1] == EventPlanner.emptyReason)
    }

    @Test func aFieldsValueAloneIsTheMessage() {
        var source = EventPlanner()
        source.body = .source
        #expect(source.plan([record("a"), record("b", .stderr)], now: now).messages(0) == ["stdout", "stderr"])
        var fixed = EventPlanner()
        fixed.body = .fixed(Array("web".utf8))
        #expect(fixed.plan([record("a")], now: now).messages(0) == ["web"])
    }

    @Test func atMostTenThousandEventsPerRequest() {
        let records = (0..<20_001).map { record("\($0)") }
        let plan = planner.plan(records, now: now)
        #expect(plan.requests == [0..<10_000, 10_000..<20_000, 20_000..<20_001])
    }

    @Test func bytesCountMessagePlus26() {
        // 1,048,576 / (1000 + 26) = 1022.003…: 1022 events fit, the 1023rd starts a new request.
        let line = String(repeating: "x", count: 1000)
        let plan = planner.plan((0..<1023).map { _ in record(line) }, now: now)
        #expect(plan.requests == [0..<1022, 1022..<1023])
        // Exactly at the limit still fits.
        var exact = EventPlanner()
        exact.maxBytes = 2 * (1000 + 26)
        #expect(exact.plan([record(line), record(line)], now: now).requests.count == 1)
    }

    @Test func invalidUTF8BecomesReplacementBeforeSizing() {
        // 400,000 invalid bytes are 400,000 bytes raw but 1,200,000 as U+FFFD: over one request.
        let bad = [UInt8](repeating: 0xFF, count: 400_000)
        let plan = planner.plan([record(bytes: bad), record(bytes: [0x61, 0xC3, 0x28, 0x62])], now: now)
        let total = plan.events.reduce(0) { $0 + $1.message.count }
        #expect(total == 1_200_000 + 6)
        #expect(plan.events.allSatisfy { UTF8Text.isValid($0.message) })
        #expect(plan.events.allSatisfy { $0.message.count <= 1_000_000 })
        #expect(plan.requests.count == 2)
        #expect(plan.events.last.map { Array($0.message) } == [0x61, 0xEF, 0xBF, 0xBD, 0x28, 0x62])
    }

    @Test func replacementMatchesMaximalSubparts() {
        // Unicode's "maximal subpart" practice (as Python's errors="replace"): one U+FFFD per subpart.
        let cases: [([UInt8], String)] = [
            ([0xE2, 0x82], "\u{FFFD}"),
            ([0xE2, 0x82, 0x41], "\u{FFFD}A"),
            ([0xF0, 0x80, 0x80], "\u{FFFD}\u{FFFD}\u{FFFD}"),
            ([0xED, 0xA0, 0x80], "\u{FFFD}\u{FFFD}\u{FFFD}"),
            ([0xC0, 0xAF], "\u{FFFD}\u{FFFD}"),
        ]
        for (bytes, expected) in cases {
            #expect(!UTF8Text.isValid(ArraySlice(bytes)))
            #expect(UTF8Text.repaired(ArraySlice(bytes)) == Array(expected.utf8))
        }
        #expect(UTF8Text.isValid(ArraySlice("plain ascii, é, €, 𝄞".utf8)))
    }

    @Test func longMessageSplitAtUTF8Boundary() {
        // 2 MB of "é" (2 bytes each) preceded by one "a": the 1,000,000 cap falls inside a character.
        let text = "a" + String(repeating: "é", count: 1_000_000)
        let plan = planner.plan([record(text), record("next", ms: 1)], now: now)
        let pieces = plan.events.filter { $0.record == 0 }
        #expect(pieces.map(\.message.count) == [999_999, 1_000_000, 2])
        #expect(pieces.map(\.offset) == [0, 999_999, 1_999_999])
        #expect(pieces.allSatisfy { UTF8Text.isValid($0.message) })
        let joined = pieces.flatMap { Array($0.message) }
        #expect(joined == Array(text.utf8))
        // Consecutive, same timestamp; two large pieces never share a request (2 × 1 MB > 1 MiB).
        #expect(plan.events.map(\.record) == [0, 0, 0, 1])
        #expect(plan.requests == [0..<1, 1..<4])
    }

    @Test func chronologicalAndStable() {
        let records = [record("late", ms: 5), record("early-1", ms: 1), record("mid", ms: 3),
                       record("early-2", ms: 1), record("late-2", ms: 5)]
        let plan = planner.plan(records, now: now)
        #expect(plan.messages(0) == ["early-1", "early-2", "mid", "late", "late-2"])
        #expect(plan.events.map(\.record) == [1, 3, 2, 0, 4])
    }

    @Test func twentyFourHourSpanSplits() {
        let day: Int64 = 86_400_000
        let records = [record("a", ms: -day), record("b", ms: -day + 1), record("c", ms: -1), record("d", ms: 0),
                       record("e", ms: 1)]
        let plan = planner.plan(records, now: now)
        // From the first event, "d" is exactly 24 h later: a new request starts there.
        #expect(plan.requests == [0..<3, 3..<5])
        for r in plan.requests {
            let span = plan.events[r.upperBound - 1].timestamp - plan.events[r.lowerBound].timestamp
            #expect(span < day)
        }
    }

    @Test func timeRulesWithAManualClock() {
        let clock = Timestamp(nanoseconds: baseNanos)
        let day: Int64 = 86_400_000
        let records = [
            record("15 days old", ms: -15 * day),
            record("13 days old", ms: -13 * day),
            record("1 h ahead", ms: 3_600_000),
            record("3 h ahead", ms: 3 * 3_600_000),
            record("now"),
        ]
        let plan = planner.plan(records, now: clock)
        #expect(plan.rejected == [0: .rejected("too old"), 3: .rejected("too new")])
        #expect(plan.events.map(\.record) == [1, 4, 2])
        // 13 days and now are 13 days apart: two requests.
        #expect(plan.requests == [0..<1, 1..<3])
        // Two days later the 13-day-old record is 15 days old.
        let later = Timestamp(nanoseconds: baseNanos + 2 * day * 1_000_000)
        #expect(planner.plan(records, now: later).rejected[1] == .rejected("too old"))
        // Borderline (inside the margin) is left to the service.
        let borderline = [record("14 days and 30 s", ms: -14 * day - 30_000)]
        #expect(planner.plan(borderline, now: clock).rejected.isEmpty)
    }

    @Test func emptyLinesAreNotSent() {
        let plan = planner.plan([record("a"), record(""), record("b")], now: now)
        #expect(plan.rejected == [1: .emptyLine])
        #expect(plan.messages(0) == ["a", "b"])
        #expect(rejections(from: plan.rejected) == [Rejection(indices: 1..<2, reason: .emptyLine)])
    }

    @Test func onlyEmptyLinesMakeNoRequest() {
        let plan = planner.plan([record(""), record("")], now: now)
        #expect(plan.requests.isEmpty)
        #expect(rejections(from: plan.rejected) == [Rejection(indices: 0..<2, reason: .emptyLine)])
    }

    @Test func skipDeliveredEvents() {
        let records = [record("a"), record("b"), record("c")]
        let plan = planner.plan(records, now: now, skip: [EventKey(record: 0, offset: 0), EventKey(record: 2, offset: 0)])
        #expect(plan.messages(0) == ["b"])
    }

    @Test func rejectedLogEventsInfoMapping() throws {
        let json = try JSONValue.parse(Array(#"{"rejectedLogEventsInfo":{"tooOldLogEventEndIndex":2,"expiredLogEventEndIndex":1,"tooNewLogEventStartIndex":4}}"#.utf8))
        let info = try #require(RejectedEventsInfo(json["rejectedLogEventsInfo"]))
        #expect((0..<6).map { info.reason(at: $0) } == [.rejected("expired"), .rejected("too old"), nil, nil, .rejected("too new"), .rejected("too new")])
        #expect(RejectedEventsInfo(try JSONValue.parse(Array("{}".utf8))) == nil)
        #expect(RejectedEventsInfo(nil) == nil)
    }

    @Test func rejectionRuns() {
        let r = rejections(from: [0: .rejected("too old"), 1: .rejected("too old"), 2: .rejected("too new"), 4: .rejected("too new"), 5: .rejected("too new")])
        #expect(r == [Rejection(indices: 0..<2, reason: .rejected("too old")), Rejection(indices: 2..<3, reason: .rejected("too new")),
                      Rejection(indices: 4..<6, reason: .rejected("too new"))])
    }
}
