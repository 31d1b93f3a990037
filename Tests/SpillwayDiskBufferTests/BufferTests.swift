import Glibc
import SpillwayCore
@testable import SpillwayDiskBuffer
import SpillwaySystem
import Testing

@Suite struct BufferTests {
    @Test func recordsRoundTripWithEveryFieldAcrossARestart() throws {
        let directory = TemporaryDirectory()
        var g = SplitMix64(seed: 7)
        let written = (0..<200).map { randomRecord($0, using: &g) }
        let options = DiskBufferOptions(directory: directory.storage, segmentSize: 4096)
        do {
            let buffer = try DiskBuffer(options: options)
            #expect(try buffer.append(written[...]) == written.count)
            buffer.close()
        }
        let buffer = try DiskBuffer(options: options)
        defer { buffer.close() }
        let read = try drain(buffer)
        #expect(read.count == written.count)
        #expect(zip(read, written).allSatisfy(same))
        #expect(buffer.takeLosses().isEmpty)
    }

    @Test func filesAndDirectoriesArePrivate() throws {
        let directory = TemporaryDirectory()
        let storage = directory.storage + "/nested/deeper"
        let buffer = try DiskBuffer(options: DiskBufferOptions(directory: storage))
        defer { buffer.close() }
        _ = try buffer.append(records(3)[...])
        for path in [directory.storage, storage] { #expect(try mode(path) == 0o700, "\(path)") }
        for name in try FileSystem.contents(ofDirectory: storage) {
            #expect(try mode(storage + "/" + name) == 0o600, "\(name)")
        }
        let lock = try readSmallFile(storage + "/lock")
        #expect(String(decoding: lock, as: UTF8.self) == "\(CurrentProcess.pid)\n")
    }

    @Test func readRespectsRecordAndByteLimits() throws {
        let directory = TemporaryDirectory()
        let buffer = try DiskBuffer(options: DiskBufferOptions(directory: directory.storage))
        defer { buffer.close() }
        _ = try buffer.append(records(10, size: 100)[...])
        let first = try #require(try buffer.read(maxRecords: 3, maxBytes: 1 << 20, bytesPerRecord: 0))
        #expect(first.records.count == 3 && first.positions == 0..<3)
        // 2 × (100 + 26) fits 300, a third does not.
        let second = try #require(try buffer.read(maxRecords: 100, maxBytes: 300, bytesPerRecord: 26))
        #expect(second.records.count == 2 && second.positions == 3..<5)
        // A record larger than maxBytes still comes, alone.
        let third = try #require(try buffer.read(maxRecords: 100, maxBytes: 10, bytesPerRecord: 0))
        #expect(third.records.count == 1 && third.positions == 5..<6)
        #expect(buffer.unreadCount == 4)
        #expect(buffer.unacknowledgedCount == 10)
    }

    /// At-least-once: the next run starts at the oldest unacknowledged record, so records read
    /// but not acknowledged come again, in order; those acknowledged out of order beyond them do not.
    @Test func restartReplaysWhatWasNotAcknowledgedInOrder() throws {
        let directory = TemporaryDirectory()
        let options = DiskBufferOptions(directory: directory.storage)
        let written = records(10)
        do {
            let buffer = try DiskBuffer(options: options)
            _ = try buffer.append(written[...])
            let a = try #require(try buffer.read(maxRecords: 3, maxBytes: 1 << 20, bytesPerRecord: 0))
            _ = try buffer.read(maxRecords: 3, maxBytes: 1 << 20, bytesPerRecord: 0)
            let c = try #require(try buffer.read(maxRecords: 3, maxBytes: 1 << 20, bytesPerRecord: 0))
            try buffer.acknowledge(c.positions)
            try buffer.acknowledge(a.positions)
            #expect(buffer.unacknowledgedCount == 4)
            buffer.close()
        }
        let buffer = try DiskBuffer(options: options)
        defer { buffer.close() }
        // The range acknowledged out of order is in the ledger: not delivered again.
        #expect(buffer.unacknowledgedCount == 4)
        #expect(lines(try drain(buffer)) == lines(Array(written[3..<6] + written[9...])))
    }

    @Test func acknowledgedSegmentsAreDeletedOnlyOverTheContiguousPrefix() throws {
        let directory = TemporaryDirectory()
        let buffer = try DiskBuffer(options: DiskBufferOptions(directory: directory.storage, segmentSize: 300))
        defer { buffer.close() }
        _ = try buffer.append(records(40)[...])
        let segments = try segmentFiles(directory.storage).count
        #expect(segments == 8)
        var batches: [DiskBatch] = []
        while let batch = try buffer.read(maxRecords: 5, maxBytes: 1 << 20, bytesPerRecord: 0) { batches.append(batch) }
        for batch in batches.dropFirst() { try buffer.acknowledge(batch.positions) }
        try buffer.finishBackgroundWork()
        #expect(try segmentFiles(directory.storage).count == segments)
        try buffer.acknowledge(batches[0].positions)
        try buffer.finishBackgroundWork()  // settled segments are deleted in the background
        let left = try segmentFiles(directory.storage)
        #expect(left.count == 1)
        #expect(buffer.unacknowledgedCount == 0)
        #expect(buffer.storedBytes == (try fileSize(directory.storage + "/" + left[0])))
    }

    /// A record larger than the segment size gets a segment of its own; one larger than the
    /// limit is still taken into an empty buffer, never blocked forever.
    @Test func oversizedRecords() throws {
        let directory = TemporaryDirectory()
        let buffer = try DiskBuffer(options: DiskBufferOptions(directory: directory.storage, limit: 4096, segmentSize: 1024))
        defer { buffer.close() }
        let big = record(String(repeating: "b", count: 6000))
        #expect(try buffer.append([big][...]) == 1)
        #expect(try buffer.append([big][...]) == 0)
        let batch = try #require(try buffer.read(maxRecords: 10, maxBytes: 100, bytesPerRecord: 0))
        #expect(batch.records.count == 1 && batch.records[0].line.count == 6000)
        try buffer.acknowledge(batch.positions)
        #expect(try buffer.append([big][...]) == 1)
    }

    @Test(arguments: [SyncPolicy.normal, .full])
    func syncPolicies(sync: SyncPolicy) throws {
        let directory = TemporaryDirectory()
        let options = DiskBufferOptions(directory: directory.storage, sync: sync, segmentSize: 500)
        do {
            let buffer = try DiskBuffer(options: options)
            _ = try buffer.append(records(50)[...])
            try buffer.sync()
            buffer.close()
        }
        let buffer = try DiskBuffer(options: options)
        defer { buffer.close() }
        #expect(lines(try drain(buffer)) == lines(records(50)))
    }
}

private func mode(_ path: String) throws -> Int {
    var info = stat()
    guard stat(path, &info) == 0 else { throw SystemError(call: "stat", errno: errno) }
    return Int(info.st_mode & 0o777)
}
