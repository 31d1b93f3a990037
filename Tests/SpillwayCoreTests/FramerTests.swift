import Testing
@testable import SpillwayCore

private func frame(_ chunks: [[UInt8]], max: Int = 16, finish: Bool = true, times: [Int64]? = nil) -> [LogRecord] {
    var framer = Framer(stream: .stdout, maxLineSize: max)
    var out: [LogRecord] = []
    for (i, chunk) in chunks.enumerated() {
        let t = Timestamp(nanoseconds: times?[i] ?? Int64(i + 1))
        chunk.withUnsafeBytes { framer.frame($0, time: t, into: &out) }
    }
    if finish { framer.finish(time: Timestamp(nanoseconds: 1000), into: &out) }
    return out
}

private func lines(_ records: [LogRecord]) -> [[UInt8]] { records.map { Array($0.line) } }

@Suite struct FramerTests {
    @Test func splitsOnNewlineWithoutIncludingIt() {
        let records = frame([Array("a\nbb\n\nccc\n".utf8)])
        #expect(lines(records) == [[97], [98, 98], [], [99, 99, 99]])
        #expect(records.allSatisfy { $0.partial == nil && $0.stream == .stdout })
    }

    @Test func joinsALineAcrossReadsAndFlushesTheUnterminatedTailAtEOF() {
        let records = frame([Array("hel".utf8), Array("lo\nwor".utf8), Array("ld".utf8)])
        #expect(lines(records) == [Array("hello".utf8), Array("world".utf8)])
        #expect(records[0].time.nanoseconds == 2)  // the read that completed it
        #expect(records.allSatisfy { $0.partial == nil })
    }

    @Test func anyByteValuePassesThrough() {
        let bytes: [UInt8] = [0, 0xff, 0xfe, 13, 0xc3, 0x28, 10]
        #expect(lines(frame([bytes])) == [[0, 0xff, 0xfe, 13, 0xc3, 0x28]])
    }

    @Test func longLinesBecomePartialsSharingIdAndFirstTimestamp() {
        let line = [UInt8](repeating: 120, count: 40)
        let records = frame([Array(line[..<10]), Array(line[10...]) + [10]], max: 16)
        #expect(records.map { $0.line.count } == [16, 16, 8])
        let partials = records.compactMap(\.partial)
        #expect(partials.count == 3)
        #expect(Set(partials.map(\.id)).count == 1)
        #expect(partials.map(\.ordinal) == [1, 2, 3])
        #expect(partials.map(\.isLast) == [false, false, true])
        #expect(records.allSatisfy { $0.time.nanoseconds == 2 })
        #expect(partials[0].id.hex.count == 32)
    }

    @Test func lineOfExactlyMaxSizeIsComplete() {
        let records = frame([[UInt8](repeating: 65, count: 16) + [10]], max: 16)
        #expect(records.count == 1)
        #expect(records[0].partial == nil)
    }

    @Test func unterminatedLongLineAtEOFEndsItsGroup() {
        let records = frame([[UInt8](repeating: 65, count: 20)], max: 16)
        #expect(records.map { $0.line.count } == [16, 4])
        #expect(records.map { $0.partial?.isLast } == [false, true])
    }

    @Test func cutsMoveBackToAUTF8Boundary() {
        // 15 ASCII bytes then "é" (2 bytes): a cut at 16 would split it.
        let bytes = [UInt8](repeating: 97, count: 15) + [0xC3, 0xA9] + [98, 10]
        let records = frame([bytes], max: 16)
        #expect(records.map { $0.line.count } == [15, 3])
        #expect(Array(records[1].line) == [0xC3, 0xA9, 98])
    }

    @Test func invalidUTF8IsCutAtTheLimit() {
        let bytes = [UInt8](repeating: 0x80, count: 20) + [10]
        #expect(frame([bytes], max: 16).map { $0.line.count } == [16, 4])
    }

    @Test func timestampsNeverGoBackwards() {
        let records = frame([Array("a\n".utf8), Array("b\n".utf8), Array("c\n".utf8)], times: [50, 10, 60])
        #expect(records.map(\.time.nanoseconds) == [50, 50, 60])
    }

    @Test func emptyInputAndEOFWithNothingPendingProduceNothing() {
        #expect(frame([[]]).isEmpty)
    }

    @Test func manyTinyReadsKeepEveryByte() {
        let text = (0..<1000).map { "line \($0)\n" }.joined()
        let chunks = Array(text.utf8).map { [$0] }
        let records = frame(chunks, max: 1 << 14)
        #expect(records.count == 1000)
        #expect(String(decoding: records[999].line, as: UTF8.self) == "line 999")
    }

    @Test func findNewlineMatchesNaiveSearchAtEveryOffset() {
        for length in 0..<40 {
            for position in 0..<length {
                var bytes = [UInt8](repeating: 0x0b, count: length)
                bytes[position] = 10
                bytes.withUnsafeBytes { raw in
                    #expect(findNewline(raw, from: 0, to: length) == position)
                }
            }
        }
    }
}
