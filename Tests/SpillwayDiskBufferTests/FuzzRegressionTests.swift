import Glibc
import SpillwayCore
@testable import SpillwayDiskBuffer
import SpillwaySystem
import Testing

/// Inputs the fuzz targets crashed on (scripts/fuzz; the same files are in Tests/Fuzz/corpus).
@Suite struct FuzzRegressionTests {
    /// FuzzSegmentScanner crash-position-2-63: a checksummed frame claiming position 2^63 in the
    /// newest segment became the next write position, and the unread count (an Int) trapped. Such
    /// a frame is damage now: the frame scanner takes no position at or above 2^56.
    @Test func aFrameClaimingPosition2To63IsDamageNotACrash() {
        let input: [UInt8] = [
            0x03, 0x00, 0x00, 0x00, 0x00, 0x12, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x80, 0x00, 0x00, 0x2A, 0x36, 0xFE, 0x9C, 0x97, 0x17, 0x00, 0x61, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x2A, 0x36, 0xFE, 0x9C, 0x97, 0x17, 0x00, 0x61, 0x00, 0x00, 0x00, 0x00, 0x39,
            0x00, 0x39, 0x00, 0x00, 0x00, 0x01, 0x74, 0x20, 0x6C, 0x69, 0x6E, 0x65, 0x38, 0xB5, 0xD7, 0xAC,
            0x1C, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x2A, 0x36,
            0xFE, 0x9C, 0x97, 0x17, 0x01, 0x73, 0x65, 0x63, 0x6F, 0x6E, 0x64, 0x20, 0x6C, 0x69, 0x6E, 0x00,
            0x00, 0x2A, 0x62,
        ]
        let directory = TemporaryDirectory()
        input.withUnsafeBytes { FuzzEntry.segment($0, directory: directory.path) }
    }

    /// The same by hand: record 0, then a verified frame at 2^63; recovery keeps the record and
    /// truncates the impossible frame as a damaged tail.
    @Test func recoveryTruncatesAVerifiedFrameWithAnImpossiblePosition() throws {
        let directory = TemporaryDirectory()
        _ = try FileSystem.makeDirectory(directory.storage)
        let records = [record("kept"), record("impossible")]
        var file = [UInt8](repeating: 0, count: Layout.segmentHeaderSize + records.map(Layout.frameSize).reduce(0, +))
        file.withUnsafeMutableBytes { raw in
            Layout.encodeSegmentHeader(first: 0, into: raw.baseAddress!)
            let at = Layout.segmentHeaderSize
            let size = Layout.encodeFrame(records[0], position: 0, into: raw.baseAddress! + at)
            _ = Layout.encodeFrame(records[1], position: 1 << 63, into: raw.baseAddress! + at + size)
        }
        let fd = try FileDescriptor.open(directory.storage + "/" + Layout.segmentName(0), [.writeOnly, .create])
        try file.withUnsafeBytes { bytes in Result { () throws(SystemError) in try fd.write(bytes, at: 0) } }.get()
        try fd.close()

        let buffer = try DiskBuffer(options: DiskBufferOptions(directory: directory.storage))
        defer { buffer.close() }
        #expect(buffer.unreadCount == 1)
        #expect(buffer.takeLosses().map(\.records) == [1])
        let batch = try #require(try buffer.read(maxRecords: 10, maxBytes: 1 << 16, bytesPerRecord: 16))
        #expect(batch.records.map { String(decoding: $0.line, as: UTF8.self) } == ["kept"])
        #expect(try buffer.read(maxRecords: 10, maxBytes: 1 << 16, bytesPerRecord: 16) == nil)
    }
}
