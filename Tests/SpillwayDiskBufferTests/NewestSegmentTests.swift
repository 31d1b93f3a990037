import Glibc
import SpillwayCore
@testable import SpillwayDiskBuffer
import SpillwaySystem
import Testing

/// The newest segment damaged while spillway was stopped after a clean exit: the ledger's append
/// record makes the loss exact, in records and bytes, with nothing left counted as buffered.
@Suite struct NewestSegmentTests {
    enum Damage: String, CaseIterable { case truncatedMidRecord, emptied, deleted, zeroed }

    /// Three segments of 10 records (45-byte frames in 482-byte segments), synced and closed.
    private func threeSegments(_ directory: TemporaryDirectory) throws -> (written: [LogRecord], newest: String) {
        let written = records(30, size: 20)
        let buffer = try DiskBuffer(options: DiskBufferOptions(directory: directory.storage, segmentSize: 32 + 450))
        #expect(try buffer.append(written[...]) == 30)
        try buffer.sync()
        buffer.close()
        let files = try segmentFiles(directory.storage)
        #expect(files.count == 3)
        return (written, directory.storage + "/" + files.last!)
    }

    @Test(arguments: Damage.allCases)
    func damageIsCountedExactly(damage: Damage) throws {
        let directory = TemporaryDirectory()
        let (written, newest) = try threeSegments(directory)
        let size = try fileSize(newest)
        let newestRecords = Array(written[20...])
        var kept = 0
        switch damage {
        case .truncatedMidRecord:
            kept = 4
            try truncateFile(newest, to: frameOffset(kept, in: newestRecords) + 7)
        case .emptied: try truncateFile(newest, to: 0)
        case .deleted: unlink(newest)
        case .zeroed: try patchFile(newest, at: 0, count: size) { $0 = [UInt8](repeating: 0, count: $0.count) }
        }
        let buffer = try DiskBuffer(options: DiskBufferOptions(directory: directory.storage))
        defer { buffer.close() }
        let losses = buffer.takeLosses()
        let lostFrom = 20 + kept
        #expect(losses.map(\.records) == [30 - lostFrom], "\(losses)")
        #expect(losses.first?.bytes == size - frameOffset(kept, in: newestRecords))
        #expect(buffer.unacknowledgedCount == lostFrom)
        #expect(lines(try drain(buffer)) == lines(Array(written.prefix(lostFrom))))
        #expect(buffer.unreadCount == 0)
    }

    /// Records appended after the ledger last recorded the end (no sync, a kill) are not known:
    /// a torn tail there is one interrupted write, not a loss the ledger can count.
    @Test func appendsAfterTheLastSyncAreNotClaimed() throws {
        let directory = TemporaryDirectory()
        let written = records(10, size: 20)
        let buffer = try DiskBuffer(options: DiskBufferOptions(directory: directory.storage))
        _ = try buffer.append(written[..<5])
        try buffer.sync()
        _ = try buffer.append(written[5...])
        buffer.close()
        let segment = directory.storage + "/" + (try segmentFiles(directory.storage)[0])
        try truncateFile(segment, to: frameOffset(9, in: written) + 3)
        let reopened = try DiskBuffer(options: DiskBufferOptions(directory: directory.storage))
        defer { reopened.close() }
        #expect(reopened.takeLosses().map(\.records) == [1])
        #expect(reopened.unacknowledgedCount == 9)
    }
}

/// Root must never write through a link planted in the storage directory.
@Suite struct StorageDirectoryTests {
    private static func isUnsafe(_ error: any Error) -> Bool {
        guard let error = error as? DiskBufferError, case .unsafe = error.kind else { return false }
        return error.description.contains("SPILLWAY_STORAGE_PATH")
    }

    @Test(arguments: ["lock", "ledger"])
    func symbolicLinksAreRefusedAndTheirTargetsUntouched(name: String) throws {
        let directory = TemporaryDirectory()
        try FileSystem.makeDirectory(directory.storage)
        let target = directory.path + "/target"
        try writeFile(target, Array("precious".utf8))
        symlink(target, directory.storage + "/" + name)
        #expect(performing: { _ = try DiskBuffer(options: DiskBufferOptions(directory: directory.storage)) },
                throws: Self.isUnsafe)
        #expect(try readSmallFile(target) == Array("precious".utf8))
    }

    @Test(arguments: [0o777, 0o770, 0o702] as [mode_t])
    func aDirectoryOthersMayWriteIsRefused(mode: mode_t) throws {
        let directory = TemporaryDirectory()
        try FileSystem.makeDirectory(directory.storage)
        chmod(directory.storage, mode)
        #expect(performing: { _ = try DiskBuffer(options: DiskBufferOptions(directory: directory.storage)) },
                throws: Self.isUnsafe)
        #expect(try FileSystem.contents(ofDirectory: directory.storage).isEmpty)
    }

    /// Files are opened relative to the directory opened and checked at start: swapping the
    /// path for a link elsewhere afterwards redirects nothing.
    @Test func replacingThePathAfterOpeningRedirectsNothing() throws {
        let directory = TemporaryDirectory()
        let buffer = try DiskBuffer(options: DiskBufferOptions(directory: directory.storage, segmentSize: 4096))
        defer { buffer.close() }
        let elsewhere = directory.path + "/elsewhere"
        try FileSystem.makeDirectory(elsewhere)
        try FileSystem.rename(directory.storage, to: directory.path + "/moved")
        symlink(elsewhere, directory.storage)
        #expect(try buffer.append(records(500)[...]) == 500)
        try buffer.sync()
        try buffer.record(origin: Array("origin".utf8))
        #expect(try drain(buffer).count == 500)
        #expect(try FileSystem.contents(ofDirectory: elsewhere).isEmpty)
        #expect(try segmentFiles(directory.path + "/moved").count >= 1)
    }

    @Test func aStickyDirectoryOfOursIsAccepted() throws {
        let directory = TemporaryDirectory()
        try FileSystem.makeDirectory(directory.storage)
        chmod(directory.storage, 0o1777)
        let buffer = try DiskBuffer(options: DiskBufferOptions(directory: directory.storage))
        buffer.close()
    }

    @Test func aVersion1LedgerIsMigrated() throws {
        let directory = TemporaryDirectory()
        let written = records(6, size: 20)
        do {
            let buffer = try DiskBuffer(options: DiskBufferOptions(directory: directory.storage))
            _ = try buffer.append(written[...])
            buffer.close()
        }
        // A version-1 ledger that acknowledged 2: slot 0, generation 9.
        var slot = [UInt8](repeating: 0, count: 128)
        slot.replaceSubrange(0..<8, with: Array("SPILLLDG".utf8))
        slot[8] = 1
        slot[16] = 9
        slot[24] = 2
        slot[32] = 2
        let crc = slot.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<48])) }
        withUnsafeBytes(of: crc.littleEndian) { slot.replaceSubrange(48..<52, with: $0) }
        let ledger = directory.storage + "/ledger"
        try truncateFile(ledger, to: 0)
        try writeFile(ledger, slot)
        let buffer = try DiskBuffer(options: DiskBufferOptions(directory: directory.storage))
        defer { buffer.close() }
        #expect(buffer.recoveryNotes.isEmpty && buffer.takeLosses().isEmpty)
        #expect(lines(try drain(buffer)) == lines(Array(written[2...])))
        #expect(try fileSize(ledger) == 2 * Ledger.slotSize)
    }
}
