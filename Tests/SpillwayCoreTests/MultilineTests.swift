import SpillwayTestKit
import Testing
@testable import SpillwayCore

/// A start matcher for tests: lines beginning with `[` start a record.
private func bracket(_ line: ArraySlice<UInt8>) -> Bool { line.first == UInt8(ascii: "[") }

private func record(_ text: String, _ stream: LogStream = .stdout, time: Int64 = 1) -> LogRecord {
    LogRecord(time: Timestamp(nanoseconds: time), stream: stream, line: Array(text.utf8)[...])
}

private func texts(_ records: [LogRecord]) -> [String] { records.map { String(decoding: $0.line, as: UTF8.self) } }

private func group(_ lines: [String], max: Int = 1000) -> [LogRecord] {
    var grouper = MultilineGrouper(stream: .stdout, maxLineSize: max, startsRecord: bracket)
    var out: [LogRecord] = []
    for (i, line) in lines.enumerated() { grouper.add(record(line, time: Int64(i + 1)), into: &out) }
    grouper.flush(into: &out)
    return out
}

@Suite struct MultilineGrouperTests {
    @Test func continuationLinesJoinTheStartLineWithoutTrailingNewline() {
        let out = group(["[1] boom", "  at a", "  at b", "[2] ok", "[3] x", "  y"])
        #expect(texts(out) == ["[1] boom\n  at a\n  at b", "[2] ok", "[3] x\n  y"])
        #expect(out.map(\.time.nanoseconds) == [1, 4, 5])  // the first line's time
        #expect(out.allSatisfy { $0.partial == nil })
    }

    @Test func linesBeforeAnyStartLineFormOneRecordAsInDocker() {
        #expect(texts(group(["a", "b", "[1] c"])) == ["a\nb", "[1] c"])
    }

    @Test func aGroupOverTheSizeLimitIsCutIntoPartials() {
        let out = group(["[1] 0123456789", "abcdefghij", "[2]"], max: 8)
        // "[1] 0123456789\nabcdefghij" is 25 bytes: pieces of 8, 8, 8, then 1.
        #expect(texts(out) == ["[1] 0123", "456789\na", "bcdefghi", "j", "[2]"])
        let partials = out.compactMap(\.partial)
        #expect(partials.count == 4 && Set(partials.map(\.id)).count == 1)
        #expect(partials.map(\.ordinal) == [1, 2, 3, 4] && partials.map(\.isLast) == [false, false, false, true])
        #expect(out[4].partial == nil)
    }

    @Test func framerPiecesOfOneLineJoinWithoutANewline() {
        var grouper = MultilineGrouper(stream: .stdout, maxLineSize: 100, startsRecord: bracket)
        var out: [LogRecord] = []
        let id = PartialID(high: 1, low: 2)
        grouper.add(record("[1] start"), into: &out)
        var first = record("[not a start: a continuation] ")
        first.partial = PartialInfo(id: id, ordinal: 1, isLast: false)
        var second = record("[still the same line]")
        second.partial = PartialInfo(id: id, ordinal: 2, isLast: true)
        grouper.add(first, into: &out)
        grouper.add(second, into: &out)
        grouper.flush(into: &out)
        #expect(texts(out) == ["[1] start", "[not a start: a continuation] [still the same line]"])
        #expect(out.allSatisfy { $0.partial == nil })
    }
}

@Suite struct MultilineStageTests {
    private func stage(_ scheduler: ManualScheduler, interval: Duration = .seconds(1)) -> (MultilineStage, Box) {
        let stage = MultilineStage(maxLineSize: 1000, flushInterval: interval, scheduler: scheduler, startsRecord: bracket)
        let box = Box()
        stage.onRelease = { stream, records in box.released.append((stream, texts(records))) }
        return (stage, box)
    }

    final class Box: @unchecked Sendable { var released: [(LogStream, [String])] = [] }

    @Test func theFlushIntervalReleasesAnIdleGroupAndEachNewLineRestartsIt() {
        let scheduler = ManualScheduler()
        let (stage, box) = stage(scheduler)
        var out: [LogRecord] = []
        stage.add([record("[1] a")], stream: .stdout, into: &out)
        scheduler.advance(by: .milliseconds(600))
        stage.add([record("  b")], stream: .stdout, into: &out)
        scheduler.advance(by: .milliseconds(600))
        #expect(box.released.isEmpty && out.isEmpty)  // 600 ms since the last line
        scheduler.advance(by: .milliseconds(400))
        #expect(box.released.count == 1 && box.released[0].0 == .stdout && box.released[0].1 == ["[1] a\n  b"])
        #expect(scheduler.scheduledCount == 0)
    }

    @Test func endOfStreamReleasesTheHeldGroup() {
        let scheduler = ManualScheduler()
        let (stage, box) = stage(scheduler)
        var out: [LogRecord] = []
        stage.add([record("[1] a"), record("  b")], stream: .stderr, into: &out)
        stage.finish(stream: .stderr, into: &out)
        #expect(texts(out) == ["[1] a\n  b"] && out[0].stream == .stderr)
        scheduler.advance(by: .seconds(5))
        #expect(box.released.isEmpty)
    }

    @Test func streamsGroupSeparatelyWhenInterleaved() {
        let scheduler = ManualScheduler()
        let (stage, box) = stage(scheduler)
        var out: [LogRecord] = []
        stage.add([record("[o1]", .stdout)], stream: .stdout, into: &out)
        stage.add([record("[e1]", .stderr)], stream: .stderr, into: &out)
        stage.add([record(" o-cont", .stdout)], stream: .stdout, into: &out)
        stage.add([record(" e-cont", .stderr)], stream: .stderr, into: &out)
        stage.add([record("[o2]", .stdout)], stream: .stdout, into: &out)
        #expect(texts(out) == ["[o1]\n o-cont"] && out[0].stream == .stdout)
        scheduler.advance(by: .seconds(1))
        let released = box.released.map { "\($0.0.name):\($0.1)" }.sorted()
        #expect(released == [#"stderr:["[e1]\n e-cont"]"#, #"stdout:["[o2]"]"#])
    }
}

@Suite struct MultilineStartTests {
    @Test func strftimeBecomesDockersRegex() {
        #expect(MultilineStart.regex(strftime: "%Y-%m-%d") == #"\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[1,2][0-9]|3[0,1])"#)
        #expect(MultilineStart.regex(strftime: "[%b %d, %Y %H:%M:%S]")
            == #"[(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (?:0[1-9]|[1,2][0-9]|3[0,1]), \d{4} (?:[0,1][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]]"#)
        #expect(MultilineStart.regex(strftime: "%H:%M:%S%L %z %Z %p") == #"(?:[0,1][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]\.\d{3} [+-]\d{4} [A-Z]{1,4}T [A,P]M"#)
        // An unknown sequence becomes nothing, as Go's map lookup gives "".
        #expect(MultilineStart.regex(strftime: "%Q%Y") == #"\d{4}"#)
        #expect(MultilineStart.pattern("^x").regex == "^x")
    }
}
