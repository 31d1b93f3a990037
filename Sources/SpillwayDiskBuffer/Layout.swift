import SpillwayCore

/// Byte layouts of segment headers and frames; the design comment in DiskBuffer.swift draws them.
/// All integers are little-endian.
enum Layout {
    static let segmentMagic = Array("SPILLSEG".utf8)
    static let version: UInt32 = 1
    static let segmentHeaderSize = 32
    /// CRC32C and body length.
    static let frameHeaderSize = 8
    /// Position, time and flags: the body of a record without partial info or line.
    static let minimumBodySize = 17
    static let partialInfoSize = 20

    static let stderrFlag: UInt8 = 1
    static let partialFlag: UInt8 = 2
    static let partialLastFlag: UInt8 = 4
    static let dropReportFlag: UInt8 = 8

    static func frameSize(_ record: LogRecord) -> Int {
        frameHeaderSize + minimumBodySize + (record.partial == nil ? 0 : partialInfoSize) + record.line.count
    }

    static let segmentPrefix = "segment-"

    static func segmentName(_ first: UInt64) -> String {
        let hex = String(first, radix: 16)
        return segmentPrefix + String(repeating: "0", count: 16 - hex.count) + hex
    }

    static func parseSegmentName(_ name: String) -> UInt64? {
        guard name.hasPrefix(segmentPrefix), name.utf8.count == segmentPrefix.utf8.count + 16 else { return nil }
        return UInt64(name.dropFirst(segmentPrefix.count), radix: 16)
    }

    static func encodeSegmentHeader(first: UInt64, into p: UnsafeMutableRawPointer) {
        for (i, byte) in segmentMagic.enumerated() { p.storeBytes(of: byte, toByteOffset: i, as: UInt8.self) }
        p.storeBytes(of: version.littleEndian, toByteOffset: 8, as: UInt32.self)
        p.storeBytes(of: UInt32(segmentHeaderSize).littleEndian, toByteOffset: 12, as: UInt32.self)
        p.storeBytes(of: first.littleEndian, toByteOffset: 16, as: UInt64.self)
        p.storeBytes(of: UInt32(0), toByteOffset: 24, as: UInt32.self)
        let crc = CRC32C.checksum(UnsafeRawBufferPointer(start: p, count: 28))
        p.storeBytes(of: crc.littleEndian, toByteOffset: 28, as: UInt32.self)
    }

    /// Why a segment header is unusable, or nil when it is valid and names `first`.
    static func headerProblem(_ header: UnsafeRawBufferPointer, first: UInt64) -> String? {
        guard header.count >= segmentHeaderSize else { return "shorter than its header" }
        guard header.prefix(8).elementsEqual(segmentMagic) else { return "not a segment (bad magic)" }
        let crc = UInt32(littleEndian: header.loadUnaligned(fromByteOffset: 28, as: UInt32.self))
        guard crc == CRC32C.checksum(UnsafeRawBufferPointer(rebasing: header[0..<28])) else {
            return "header checksum mismatch"
        }
        let version = UInt32(littleEndian: header.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
        guard version == Layout.version else { return "unknown format version \(version)" }
        guard UInt64(littleEndian: header.loadUnaligned(fromByteOffset: 16, as: UInt64.self)) == first else {
            return "header does not match its file name"
        }
        return nil
    }

    /// Writes `record`'s frame at `p` (which has room for `frameSize(record)` bytes).
    static func encodeFrame(_ record: LogRecord, position: UInt64, into p: UnsafeMutableRawPointer) -> Int {
        let size = frameSize(record)
        p.storeBytes(of: UInt32(size - frameHeaderSize).littleEndian, toByteOffset: 4, as: UInt32.self)
        p.storeBytes(of: position.littleEndian, toByteOffset: 8, as: UInt64.self)
        p.storeBytes(of: record.time.nanoseconds.littleEndian, toByteOffset: 16, as: Int64.self)
        var flags: UInt8 = record.stream == .stderr ? stderrFlag : 0
        if record.isDropReport { flags |= dropReportFlag }
        var lineOffset = frameHeaderSize + minimumBodySize
        if let partial = record.partial {
            flags |= partialFlag | (partial.isLast ? partialLastFlag : 0)
            p.storeBytes(of: partial.id.high.littleEndian, toByteOffset: 25, as: UInt64.self)
            p.storeBytes(of: partial.id.low.littleEndian, toByteOffset: 33, as: UInt64.self)
            p.storeBytes(of: partial.ordinal.littleEndian, toByteOffset: 41, as: Int32.self)
            lineOffset += partialInfoSize
        }
        p.storeBytes(of: flags, toByteOffset: 24, as: UInt8.self)
        record.line.withUnsafeBytes { line in
            if let base = line.baseAddress { (p + lineOffset).copyMemory(from: base, byteCount: line.count) }
        }
        let crc = CRC32C.checksum(UnsafeRawBufferPointer(start: p + 4, count: size - 4))
        p.storeBytes(of: crc.littleEndian, toByteOffset: 0, as: UInt32.self)
        return size
    }
}

/// A frame header as read from disk, before its checksum is trusted.
struct FrameHeader {
    var bodyLength: Int
    var checksum: UInt32

    init(_ p: UnsafeRawPointer) {
        checksum = UInt32(littleEndian: p.loadUnaligned(as: UInt32.self))
        bodyLength = Int(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 4, as: UInt32.self)))
    }

    var frameSize: Int { Layout.frameHeaderSize + bodyLength }

    /// Whether the bytes at `p` (the whole frame) match the checksum.
    func verify(_ p: UnsafeRawPointer) -> Bool {
        CRC32C.checksum(UnsafeRawBufferPointer(start: p + 4, count: frameSize - 4)) == checksum
    }

    static func position(_ p: UnsafeRawPointer) -> UInt64 {
        UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
    }

    /// Decodes a verified frame; the line is a slice of `chunk`, where the frame starts at `start`.
    static func decode(_ p: UnsafeRawPointer, chunk: [UInt8], start: Int, size: Int) -> LogRecord? {
        let flags = p.load(fromByteOffset: 24, as: UInt8.self)
        var lineOffset = Layout.frameHeaderSize + Layout.minimumBodySize
        var partial: PartialInfo?
        if flags & Layout.partialFlag != 0 {
            guard size >= lineOffset + Layout.partialInfoSize else { return nil }
            partial = PartialInfo(
                id: PartialID(
                    high: UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 25, as: UInt64.self)),
                    low: UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 33, as: UInt64.self))),
                ordinal: Int32(littleEndian: p.loadUnaligned(fromByteOffset: 41, as: Int32.self)),
                isLast: flags & Layout.partialLastFlag != 0)
            lineOffset += Layout.partialInfoSize
        }
        return LogRecord(
            time: Timestamp(nanoseconds: Int64(littleEndian: p.loadUnaligned(fromByteOffset: 16, as: Int64.self))),
            stream: flags & Layout.stderrFlag != 0 ? .stderr : .stdout,
            line: chunk[(start + lineOffset)..<(start + size)],
            partial: partial,
            isDropReport: flags & Layout.dropReportFlag != 0)
    }
}
