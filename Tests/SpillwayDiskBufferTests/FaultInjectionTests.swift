import SpillwayCore
@testable import SpillwayDiskBuffer
import SpillwaySystem
import Testing

/// Damage done to the files between runs (or under a running buffer), then recovery: every
/// record is delivered or reported lost with its reason, never both, never neither.
@Suite struct FaultInjectionTests {
    /// One segment holding `count` records, closed; returns the records and the segment path.
    private func oneSegment(_ directory: TemporaryDirectory, count: Int = 10) throws -> ([LogRecord], String) {
        let written = records(count, size: 40)
        let buffer = try DiskBuffer(options: DiskBufferOptions(directory: directory.storage))
        #expect(try buffer.append(written[...]) == count)
        buffer.close()
        return (written, directory.storage + "/" + (try segmentFiles(directory.storage)[0]))
    }

    private func reopen(_ directory: TemporaryDirectory, segmentSize: Int? = nil) throws -> DiskBuffer {
        try DiskBuffer(options: DiskBufferOptions(directory: directory.storage, segmentSize: segmentSize))
    }

    @Test func tornTailIsTruncatedAndCounted() throws {
        let directory = TemporaryDirectory()
        let (written, segment) = try oneSegment(directory)
        try truncateFile(segment, to: try fileSize(segment) - 5)
        let buffer = try reopen(directory)
        defer { buffer.close() }
        let losses = buffer.takeLosses()
        #expect(losses.count == 1 && losses.first?.records == 1)
        #expect(losses.first?.reason.contains("at the end of") == true)
        #expect(losses.first?.bytes == Layout.frameSize(written[9]) - 5)
        #expect(try fileSize(segment) == frameOffset(9, in: written))
        #expect(lines(try drain(buffer)) == lines(Array(written.prefix(9))))
        // Appends continue with the next positions.
        _ = try buffer.append(records(2, from: 100)[...])
        let more = try #require(try buffer.read(maxRecords: 10, maxBytes: 1 << 20, bytesPerRecord: 0))
        #expect(lines(more.records) == lines(records(2, from: 100)) && more.positions == 9..<11)
    }

    /// A bit flipped in any field of a frame in the middle: that record only is lost.
    @Test(arguments: ["checksum": 1, "length": 5, "position": 9, "line": 30])
    func flippedBitSkipsOneFrame(field: String, at: Int) throws {
        let directory = TemporaryDirectory()
        let (written, segment) = try oneSegment(directory)
        try patchFile(segment, at: frameOffset(3, in: written) + at, count: 1) { $0[0] ^= 0x10 }
        let buffer = try reopen(directory)
        defer { buffer.close() }
        var expected = written
        expected.remove(at: 3)
        #expect(lines(try drain(buffer)) == lines(expected))
        let losses = buffer.takeLosses()
        #expect(losses.count == 1 && losses.first?.records == 1 && losses.first?.stream == nil)
        #expect(losses.first?.reason.contains("checksum mismatch") == true)
        #expect(losses.first?.bytes == Layout.frameSize(written[3]))
        #expect(buffer.unacknowledgedCount == 0)
    }

    @Test func zeroedLengthPrefixLosesOnlyThatRecord() throws {
        let directory = TemporaryDirectory()
        let (written, segment) = try oneSegment(directory)
        try patchFile(segment, at: frameOffset(0, in: written) + 4, count: 4) { $0 = [0, 0, 0, 0] }
        let buffer = try reopen(directory)
        defer { buffer.close() }
        #expect(lines(try drain(buffer)) == lines(Array(written.dropFirst())))
        #expect(buffer.takeLosses().map(\.records) == [1])
    }

    /// Ten records stored, the first five acknowledged.
    private func halfAcknowledged(_ directory: TemporaryDirectory, ackSteps: [Int] = [5]) throws -> [LogRecord] {
        let written = records(10)
        let buffer = try reopen(directory)
        _ = try buffer.append(written[...])
        for count in ackSteps {
            let batch = try #require(try buffer.read(maxRecords: count, maxBytes: 1 << 20, bytesPerRecord: 0))
            try buffer.acknowledge(batch.positions)
        }
        buffer.close()
        return written
    }

    @Test func deletedLedgerReplaysEverything() throws {
        let directory = TemporaryDirectory()
        let written = try halfAcknowledged(directory)
        try FileSystem.remove(directory.storage + "/ledger")
        let buffer = try reopen(directory)
        defer { buffer.close() }
        #expect(lines(try drain(buffer)) == lines(written))
        #expect(buffer.takeLosses().isEmpty)
        #expect(buffer.recoveryNotes.contains { $0.contains("ledger missing") })
    }

    @Test func damagedLedgerReplaysEverything() throws {
        let directory = TemporaryDirectory()
        let written = try halfAcknowledged(directory)
        for slot in [0, 4096] { try patchFile(directory.storage + "/ledger", at: slot + 26, count: 1) { $0[0] ^= 1 } }
        let buffer = try reopen(directory)
        defer { buffer.close() }
        #expect(lines(try drain(buffer)) == lines(written))
        #expect(buffer.takeLosses().isEmpty)
        #expect(buffer.recoveryNotes.contains { $0.contains("ledger damaged") })
    }

    /// A torn ledger update leaves the previous state: an older position, so more is replayed.
    @Test func damagedNewestLedgerSlotFallsBackToThePreviousOne() throws {
        let directory = TemporaryDirectory()
        let written = try halfAcknowledged(directory, ackSteps: [3, 4])
        let ledger = try readSmallFile(directory.storage + "/ledger")
        func generation(_ slot: Int) -> UInt64 {
            ledger[(slot + 16)..<(slot + 24)].reversed().reduce(0) { $0 << 8 | UInt64($1) }
        }
        let newest = generation(0) > generation(4096) ? 0 : 4096
        try patchFile(directory.storage + "/ledger", at: newest + 30, count: 1) { $0[0] ^= 1 }
        let buffer = try reopen(directory)
        defer { buffer.close() }
        #expect(lines(try drain(buffer)) == lines(Array(written[3...])))
        #expect(buffer.takeLosses().isEmpty && buffer.recoveryNotes.isEmpty)
    }

    /// Five records per segment: 300-byte segments of 45-byte frames. Read from disk, not from
    /// the copies kept in memory for a reader that keeps up.
    private func sixSegments(_ directory: TemporaryDirectory) throws -> (DiskBuffer, [LogRecord], [String]) {
        let buffer = try reopen(directory, segmentSize: 300)
        buffer.recent = RecentRecords(budget: 0)
        let written = records(30)
        _ = try buffer.append(written[...])
        let segments = try segmentFiles(directory.storage)
        #expect(segments.count == 6)
        return (buffer, written, segments)
    }

    @Test func segmentDeletedUnderARunningBuffer() throws {
        let directory = TemporaryDirectory()
        let (buffer, written, segments) = try sixSegments(directory)
        defer { buffer.close() }
        try FileSystem.remove(directory.storage + "/" + segments[2])
        #expect(lines(try drain(buffer)) == lines(Array(written[0..<10] + written[15...])))
        let losses = buffer.takeLosses()
        #expect(losses.map(\.records) == [5])
        #expect(losses.first?.reason.contains("removed from the storage directory") == true)
        #expect(buffer.unacknowledgedCount == 0)
    }

    @Test func segmentsDeletedBetweenRuns() throws {
        let directory = TemporaryDirectory()
        let (buffer, written, segments) = try sixSegments(directory)
        buffer.close()
        try FileSystem.remove(directory.storage + "/" + segments[0])
        try FileSystem.remove(directory.storage + "/" + segments[3])
        let reopened = try reopen(directory, segmentSize: 300)
        defer { reopened.close() }
        #expect(lines(try drain(reopened)) == lines(Array(written[5..<15] + written[20...])))
        #expect(reopened.takeLosses().map(\.records) == [5, 5])
    }

    @Test func unreadableSegmentIsMovedToCorrupt() throws {
        let directory = TemporaryDirectory()
        let (buffer, written, segments) = try sixSegments(directory)
        buffer.close()
        try patchFile(directory.storage + "/" + segments[1], at: 0, count: 1) { $0[0] = UInt8(ascii: "X") }
        let reopened = try reopen(directory, segmentSize: 300)
        defer { reopened.close() }
        #expect(try FileSystem.contents(ofDirectory: directory.storage + "/corrupt") == [segments[1]])
        #expect(!(try segmentFiles(directory.storage)).contains(segments[1]))
        #expect(lines(try drain(reopened)) == lines(Array(written[0..<5] + written[10...])))
        let losses = reopened.takeLosses()
        #expect(losses.map(\.records) == [5])
        #expect(losses.first?.reason.contains("moved to corrupt/") == true)
        #expect(losses.first?.reason.contains("bad magic") == true)
    }

    @Test func newestSegmentWithATornHeaderIsRemoved() throws {
        let directory = TemporaryDirectory()
        let (written, _) = try oneSegment(directory)
        try writeFile(directory.storage + "/" + Layout.segmentName(10), [UInt8](repeating: 0x53, count: 10))
        let buffer = try reopen(directory)
        defer { buffer.close() }
        #expect(try segmentFiles(directory.storage).count == 1)
        #expect(lines(try drain(buffer)) == lines(written))
        #expect(buffer.takeLosses().isEmpty)
        #expect(buffer.recoveryNotes.count == 1)
    }
}
