import SpillwayCore
import SpillwaySystem

/// Walks the frames of one segment file in order, reading it in large chunks.
///
/// Decoded lines slice the chunk they were read into (one allocation per chunk, none per record);
/// a chunk lives as long as a record that slices it. A frame that fails its checks is skipped by
/// trying every following byte offset until a frame verifies again.
struct FrameScanner {
    static let chunkSize = 256 << 10
    /// No genuine frame has a position this high (2^56 records, over 2,000 years at a million a
    /// second); a checksummed frame that claims one is damage, so counts of positions fit an Int.
    static let positionBound: UInt64 = 1 << 56

    let fd: FileDescriptor
    /// File offset of the next frame.
    private(set) var offset: Int
    /// Positions grow within a segment: a frame below this is not genuine, which makes it
    /// unlikely that a resync after damage accepts a stray match.
    private var minimumPosition: UInt64
    private var chunk: [UInt8] = []
    private var chunkStart = 0

    enum Step {
        case record(LogRecord, position: UInt64)
        /// Bytes skipped before the next valid frame (or up to `end`).
        case damaged(bytes: Int)
        case end
    }

    init(fd: FileDescriptor, offset: Int, minimumPosition: UInt64) {
        self.fd = fd
        self.offset = offset
        self.minimumPosition = minimumPosition
    }

    /// The next frame in `offset..<end`, accepting positions below `positionLimit`.
    mutating func next(end: Int, positionLimit: UInt64) throws(SystemError) -> Step {
        guard offset < end else { return .end }
        if let size = try validFrame(at: offset, end: end, positionLimit: positionLimit) {
            let start = offset - chunkStart
            let decoded = chunk.withUnsafeBytes { raw -> (LogRecord, UInt64)? in
                let p = raw.baseAddress! + start
                return FrameHeader.decode(p, chunk: chunk, start: start, size: size).map { ($0, FrameHeader.position(p)) }
            }
            if let (record, position) = decoded {
                offset += size
                minimumPosition = position + 1
                return .record(record, position: position)
            }
        }
        // Resync: the next offset where a frame verifies, or the end when none does.
        var resume = end
        var candidate = offset + 1
        while candidate + Layout.frameHeaderSize + Layout.minimumBodySize <= end {
            if try validFrame(at: candidate, end: end, positionLimit: positionLimit) != nil {
                resume = candidate
                break
            }
            candidate += 1
        }
        let skipped = resume - offset
        offset = resume
        return .damaged(bytes: skipped)
    }

    /// Takes records into `batch` while they follow in order from `expected` and lie wholly in
    /// the loaded chunk, in one pass over its bytes; frames below `expected` are skipped. True
    /// when the batch filled up; false when `next` must handle what comes (a chunk boundary,
    /// damage, a gap, the end).
    mutating func take(into batch: inout BatchBuilder, expected: inout UInt64, end: Int, positionLimit: UInt64) -> Bool {
        let chunk = chunk
        let limit = min(chunk.count, end - chunkStart)
        var at = offset - chunkStart
        var (next, minimum) = (expected, minimumPosition)
        var full = false
        chunk.withUnsafeBytes { raw in
            while at >= 0 && at + Layout.frameHeaderSize + Layout.minimumBodySize <= limit {
                let p = raw.baseAddress! + at
                let header = FrameHeader(p)
                let size = header.frameSize
                let position = FrameHeader.position(p)
                guard header.bodyLength >= Layout.minimumBodySize, at + size <= limit, position >= minimum,
                    position <= next, position < positionLimit, position < Self.positionBound, header.verify(p)
                else { return }
                if position == next {
                    guard let record = FrameHeader.decode(p, chunk: chunk, start: at, size: size) else { return }
                    guard batch.fits(record) else {
                        full = true
                        return
                    }
                    batch.add(record)
                    next += 1
                }
                minimum = position + 1
                at += size
                if batch.isFull {
                    full = true
                    return
                }
            }
        }
        offset = chunkStart + at
        (expected, minimumPosition) = (next, minimum)
        return full
    }

    /// The size of the frame at `at` when it is whole, within `end`, checksummed and plausibly
    /// positioned; it is then in the chunk.
    private mutating func validFrame(at: Int, end: Int, positionLimit: UInt64) throws(SystemError) -> Int? {
        guard at + Layout.frameHeaderSize + Layout.minimumBodySize <= end,
            try load(at, count: Layout.frameHeaderSize + Layout.minimumBodySize, end: end)
        else { return nil }
        let header = chunk.withUnsafeBytes { FrameHeader($0.baseAddress! + (at - chunkStart)) }
        guard header.bodyLength >= Layout.minimumBodySize, at + header.frameSize <= end,
            try load(at, count: header.frameSize, end: end)
        else { return nil }
        let (minimum, start) = (minimumPosition, at - chunkStart)
        let valid = chunk.withUnsafeBytes { raw in
            let p = raw.baseAddress! + start
            let position = FrameHeader.position(p)
            return position >= minimum && position < positionLimit && position < Self.positionBound && header.verify(p)
        }
        return valid ? header.frameSize : nil
    }

    /// Makes `at..<at+count` present in the chunk, reading a new chunk from `at` if needed.
    /// False when the file is shorter than that.
    private mutating func load(_ at: Int, count: Int, end: Int) throws(SystemError) -> Bool {
        if at >= chunkStart && at + count <= chunkStart + chunk.count { return true }
        let size = min(max(Self.chunkSize, count), end - at)
        // A fresh array each time: records read from the old chunk still slice it.
        let fd = fd
        var failure: SystemError?
        chunk = [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            do throws(SystemError) {
                initialized = try fd.read(into: UnsafeMutableRawBufferPointer(buffer), at: at)
            } catch {
                failure = error
                initialized = 0
            }
        }
        chunkStart = at
        if let failure { throw failure }
        return chunk.count >= count
    }
}
