import Glibc
import SpillwayCore
@testable import SpillwayDiskBuffer
import SpillwaySystem
import Testing

/// The limit, a full disk, an unwritable directory and the lock.
@Suite struct StorageLimitTests {
    @Test func blockReturnsShortCountsAtTheLimitAndResumesAfterAcknowledgements() throws {
        let directory = TemporaryDirectory()
        let buffer = try DiskBuffer(options: DiskBufferOptions(directory: directory.storage, limit: 4096, segmentSize: 1024))
        defer { buffer.close() }
        let written = records(200)
        var stored = try buffer.append(written[...])
        #expect(stored > 0 && stored < 200)
        #expect(buffer.storedBytes <= 4096)
        #expect(try buffer.append(written[stored...]) == 0)
        var delivered: [LogRecord] = []
        while stored < written.count {
            delivered += try drain(buffer)
            let more = try buffer.append(written[stored...])
            #expect(more > 0)
            stored += more
            #expect(buffer.storedBytes <= 4096)
        }
        delivered += try drain(buffer)
        #expect(lines(delivered) == lines(written))
        #expect(buffer.takeLosses().isEmpty)
    }

    private func dropOldestBuffer(_ directory: TemporaryDirectory) throws -> DiskBuffer {
        try DiskBuffer(options: DiskBufferOptions(directory: directory.storage, limit: 4096, full: .dropOldest, segmentSize: 1024))
    }

    @Test func dropOldestDeletesTheOldestSegmentsAndCountsExactly() throws {
        let directory = TemporaryDirectory()
        let buffer = try dropOldestBuffer(directory)
        defer { buffer.close() }
        let written = records(200, stream: .stderr)
        #expect(try buffer.append(written[...]) == 200)
        #expect(buffer.storedBytes <= 4096)
        let delivered = try drain(buffer)
        let losses = buffer.takeLosses()
        let lost = losses.reduce(0) { $0 + $1.records }
        // The newest records survive, the oldest went, and the counts add up exactly.
        #expect(lost > 0)
        #expect(lines(delivered) == lines(Array(written.suffix(200 - lost))))
        #expect(losses.allSatisfy { $0.stream == .stderr && $0.reason.contains("drop-oldest") })
        #expect(losses.reduce(0) { $0 + $1.bytes } == written.prefix(lost).reduce(0) { $0 + $1.line.count })
        #expect(losses.first?.timeRange?.lowerBound == written[0].time)
        #expect(losses.last?.timeRange?.upperBound == written[lost - 1].time)
    }

    /// Records read but not acknowledged are in flight: dropping their segment does not count
    /// them (the caller still holds them), and their acknowledgement is still taken.
    @Test func dropOldestDoesNotCountRecordsInFlight() throws {
        let directory = TemporaryDirectory()
        let buffer = try dropOldestBuffer(directory)
        defer { buffer.close() }
        _ = try buffer.append(records(20)[...])
        let inFlight = try #require(try buffer.read(maxRecords: 10, maxBytes: 1 << 20, bytesPerRecord: 0))
        _ = try buffer.append(records(200, from: 20)[...])
        let delivered = try drain(buffer)
        let lost = buffer.takeLosses().reduce(0) { $0 + $1.records }
        #expect(10 + lost + delivered.count == 220)
        #expect(lines(delivered) == lines(Array(records(220).suffix(delivered.count))))
        try buffer.acknowledge(inFlight.positions)
        #expect(buffer.unacknowledgedCount == 0)
    }

    /// Drop-oldest deleted a segment whose records were in flight, then spillway stopped before
    /// they were acknowledged: the next run reports exactly those as lost.
    @Test func inFlightRecordsOfADroppedSegmentAreReportedAfterARestart() throws {
        let directory = TemporaryDirectory()
        do {
            let buffer = try dropOldestBuffer(directory)
            _ = try buffer.append(records(20)[...])
            let inFlight = try #require(try buffer.read(maxRecords: 10, maxBytes: 1 << 20, bytesPerRecord: 0))
            _ = try buffer.append(records(200, from: 20)[...])
            // Half of them acknowledged, out of order.
            try buffer.acknowledge(inFlight.positions.lowerBound + 5..<inFlight.positions.upperBound)
            #expect(buffer.takeLosses().count > 0)
            buffer.close()
        }
        let buffer = try dropOldestBuffer(directory)
        defer { buffer.close() }
        let losses = buffer.takeLosses()
        #expect(losses.map(\.records) == [5])
        #expect(losses.first?.reason.contains("drop-oldest") == true)
    }

    @Test func secondInstanceOnTheSameDirectoryIsLocked() throws {
        let directory = TemporaryDirectory()
        let first = try DiskBuffer(options: DiskBufferOptions(directory: directory.storage))
        #expect {
            _ = try DiskBuffer(options: DiskBufferOptions(directory: directory.storage))
        } throws: { error in
            guard let error = error as? DiskBufferError else { return false }
            return error.kind == .locked(path: directory.storage, holderPID: CurrentProcess.pid)
                && error.description.contains("SPILLWAY_NAME")
        }
        first.close()
        try DiskBuffer(options: DiskBufferOptions(directory: directory.storage)).close()
    }

    private static func isUnwritable(_ error: any Error) -> Bool {
        guard let error = error as? DiskBufferError, case .unwritable = error.kind else { return false }
        return error.description.contains("SPILLWAY_STORAGE_PATH")
    }

    /// A new directory, and one that exists with its lock file, on a read-only mount (root
    /// passes permission checks, a read-only file system stops everyone).
    @Test(.enabled(if: Mount.isPossible, "needs mount(2): root with CAP_SYS_ADMIN"))
    func readOnlyMountIsUnwritable() throws {
        let directory = TemporaryDirectory()
        let mountPoint = try Mount.tmpfs(at: directory.path + "/ro", options: "size=64k")
        defer { mountPoint.unmount() }
        try DiskBuffer(options: DiskBufferOptions(directory: mountPoint.path + "/existing")).close()
        try mountPoint.remountReadOnly()
        for name in ["new", "existing"] {
            #expect(performing: {
                _ = try DiskBuffer(options: DiskBufferOptions(directory: mountPoint.path + "/" + name))
            }, throws: Self.isUnwritable)
        }
    }

    @Test(.enabled(if: !isRoot, "root passes permission checks: see readOnlyMountIsUnwritable"))
    func directoryWithoutWritePermissionIsUnwritable() throws {
        let directory = TemporaryDirectory()
        chmod(directory.path, 0o500)
        defer { chmod(directory.path, 0o700) }
        #expect(performing: { _ = try DiskBuffer(options: DiskBufferOptions(directory: directory.storage)) }, throws: Self.isUnwritable)
    }

    /// Without a segment size the active segment may be larger than the disk: once acknowledged
    /// it must be rolled away, or a blocked writer would wait forever.
    @Test(.enabled(if: Mount.isPossible, "needs mount(2): root with CAP_SYS_ADMIN"),
          arguments: [(FullPolicy.block, 64 << 10), (.dropOldest, 64 << 10), (.block, nil)] as [(FullPolicy, Int?)])
    func fullDiskIsHandledLikeTheLimit(policy: FullPolicy, segmentSize: Int?) throws {
        let directory = TemporaryDirectory()
        let mountPoint = try Mount.tmpfs(at: directory.path + "/small", options: "size=256k")
        defer { mountPoint.unmount() }
        let buffer = try DiskBuffer(options: DiskBufferOptions(
            directory: mountPoint.path + "/storage", limit: 64 << 20, full: policy, segmentSize: segmentSize))
        defer { buffer.close() }
        let written = records(5000, size: 200)
        var stored = 0
        var delivered: [LogRecord] = []
        var shortAppends = 0
        while stored < written.count && shortAppends < 100 {
            let remaining = written.count - stored
            let n = try buffer.append(written[stored...])
            stored += n
            if n < remaining { shortAppends += 1 }
            #expect(buffer.storedBytes <= 256 << 10)
            if policy == .block { delivered += try drain(buffer) }
        }
        delivered += try drain(buffer)
        #expect(stored == written.count)
        let lost = buffer.takeLosses().reduce(0) { $0 + $1.records }
        if policy == .block {
            #expect(shortAppends > 0)
            #expect(lost == 0)
            #expect(lines(delivered) == lines(written))
        } else {
            #expect(shortAppends == 0)
            #expect(lost > 0)
            #expect(lines(delivered) == lines(Array(written.suffix(written.count - lost))))
        }
    }
}

/// A tmpfs the test mounts (root only), always unmounted after.
struct Mount {
    let path: String

    /// Whether this process may mount (root, and not a container without CAP_SYS_ADMIN).
    static let isPossible: Bool = {
        guard isRoot else { return false }
        let directory = TemporaryDirectory()
        guard let mount = try? tmpfs(at: directory.path + "/probe", options: "size=4k") else { return false }
        mount.unmount()
        return true
    }()

    static func tmpfs(at path: String, options: String) throws -> Mount {
        try FileSystem.makeDirectory(path)
        guard mount("tmpfs", path, "tmpfs", 0, options) == 0 else { throw SystemError(call: "mount", errno: errno) }
        return Mount(path: path)
    }

    func remountReadOnly() throws {
        guard mount("tmpfs", path, "tmpfs", UInt(MS_REMOUNT | MS_RDONLY), nil) == 0 else {
            throw SystemError(call: "mount(remount,ro)", errno: errno)
        }
    }

    /// Lazily, so that a descriptor still open cannot keep it mounted.
    func unmount() { umount2(path, Int32(MNT_DETACH)) }
}
