import SpillwayCore
import SpillwaySystem

/// The entry point of the fuzz target Sources/FuzzSegmentScanner (scripts/fuzz): a segment file
/// as a crash, a bad disk or another process may leave it, read by the frame scanner and by
/// recovery. Public only for that target; nothing else calls it.
public enum FuzzEntry {
    /// Per process, on /dev/shm when there is one (no disk I/O per input). scripts/fuzz removes it.
    public static let scratch: String = {
        let name = "spillway-fuzz-\(CurrentProcess.pid)"
        if (try? FileSystem.makeDirectory("/dev/shm/" + name)) != nil { return "/dev/shm/" + name }
        _ = try? FileSystem.makeDirectory("/tmp/" + name)
        return "/tmp/" + name
    }()

    /// The first byte chooses: bit 0, the rest follows a valid segment header (positions from 0)
    /// rather than being the whole file; bit 1, each frame's checksum is recomputed, following
    /// the length fields, so that the input reaches the decoding of verified frames. The file is
    /// scanned, then recovered and read to its end by a `DiskBuffer` in `directory` (a fresh
    /// directory, emptied afterwards; its subdirectories stay).
    public static func segment(_ input: UnsafeRawBufferPointer, directory: String = scratch) {
        guard let mode = input.first else { return }
        var file: [UInt8] = []
        if mode & 1 != 0 {
            file = [UInt8](repeating: 0, count: Layout.segmentHeaderSize)
            file.withUnsafeMutableBytes { Layout.encodeSegmentHeader(first: 0, into: $0.baseAddress!) }
        }
        file.append(contentsOf: input.dropFirst())
        if mode & 2 != 0 { fixChecksums(&file) }

        let storage = directory + "/storage"
        let path = storage + "/" + Layout.segmentName(0)
        do {
            _ = try FileSystem.makeDirectory(storage)
            let fd = try FileDescriptor.open(path, [.readWrite, .create, .exclusive])
            try file.withUnsafeBytes { bytes in Result { () throws(SystemError) in try fd.write(bytes, at: 0) } }.get()
            scan(fd, size: file.count)
            try fd.close()
        } catch {
            preconditionFailure("fuzz: cannot write \(path): \(error)")
        }
        recover(storage)
        removeFiles(in: directory)
    }

    private static func fixChecksums(_ file: inout [UInt8]) {
        var at = Layout.segmentHeaderSize
        file.withUnsafeMutableBytes { raw in
            while at + Layout.frameHeaderSize + Layout.minimumBodySize <= raw.count {
                let p = raw.baseAddress! + at
                let header = FrameHeader(p)
                guard header.bodyLength >= Layout.minimumBodySize, at + header.frameSize <= raw.count else { return }
                let crc = CRC32C.checksum(UnsafeRawBufferPointer(start: p + 4, count: header.frameSize - 4))
                p.storeBytes(of: crc.littleEndian, toByteOffset: 0, as: UInt32.self)
                at += header.frameSize
            }
        }
    }

    /// The scanner alone, as reading does: batches taken in one pass, `next` for the rest. Each
    /// step must move forward.
    private static func scan(_ fd: FileDescriptor, size: Int) {
        guard size > Layout.segmentHeaderSize else { return }
        var scanner = FrameScanner(fd: fd, offset: Layout.segmentHeaderSize, minimumPosition: 0)
        var expected: UInt64 = 0
        while true {
            var batch = BatchBuilder(maxRecords: 8, maxBytes: 1 << 12, bytesPerRecord: 16)
            let before = scanner.offset
            _ = scanner.take(into: &batch, expected: &expected, end: size, positionLimit: .max)
            precondition(scanner.offset >= before && scanner.offset <= size, "fuzz: take moved to \(scanner.offset)")
            let at = scanner.offset
            let step: FrameScanner.Step
            do { step = try scanner.next(end: size, positionLimit: .max) } catch { return }
            switch step {
            case .record(_, let position):
                precondition(scanner.offset > at, "fuzz: a record that took no bytes")
                expected = max(expected, position &+ 1)
            case .damaged(let bytes):
                precondition(bytes > 0 && scanner.offset == at + bytes, "fuzz: damage of \(bytes) bytes at \(at)")
            case .end:
                return
            }
        }
    }

    /// Recovery, then every record read and acknowledged, as a restart with a backlog does.
    private static func recover(_ storage: String) {
        guard let buffer = try? DiskBuffer(options: DiskBufferOptions(directory: storage)) else { return }
        defer { buffer.close() }
        _ = buffer.takeLosses()
        while let batch = try? buffer.read(maxRecords: 64, maxBytes: 1 << 16, bytesPerRecord: 16) {
            precondition(!batch.positions.isEmpty, "fuzz: a batch without positions")
            guard (try? buffer.acknowledge(batch.positions)) != nil else { return }
        }
        _ = buffer.takeLosses()
    }

    private static func removeFiles(in directory: String) {
        guard let names = try? FileSystem.contents(ofDirectory: directory) else { return }
        for name in names {
            let path = directory + "/" + name
            if (try? FileSystem.remove(path)) == nil { removeFiles(in: path) }
        }
    }
}
