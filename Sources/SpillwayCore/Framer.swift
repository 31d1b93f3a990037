/// Cuts one stream's bytes into records.
///
/// - A record ends at `\n` (not included). Any other byte value passes through unchanged.
/// - A line longer than `maxLineSize` becomes partial records: one random id, the first piece's
///   timestamp, ordinals from 1, the last piece flagged. A cut moves back to a UTF-8 character
///   boundary when one lies within 3 bytes.
/// - An unterminated line waits for its newline, the size limit or `finish()` (EOF), which emits
///   it as a complete record (or the last piece of a partial group).
/// - Timestamps never go backwards, even when the wall clock steps back.
public struct Framer {
    public let stream: LogStream
    public let maxLineSize: Int
    private var pending: [UInt8] = []
    private var group: (id: PartialID, ordinal: Int32, time: Timestamp)?
    private var lastTime = Timestamp(nanoseconds: .min)
    private var random = SystemRandomNumberGenerator()

    public init(stream: LogStream, maxLineSize: Int) {
        precondition(maxLineSize > 0)
        self.stream = stream
        self.maxLineSize = maxLineSize
    }

    /// Frames the bytes of one read, all stamped `time`, appending records to `records`.
    public mutating func frame(_ bytes: UnsafeRawBufferPointer, time readTime: Timestamp, into records: inout [LogRecord]) {
        guard !bytes.isEmpty else { return }
        let time = monotonic(readTime)
        // One copy per read: every record of this read slices the same storage.
        var storage = pending
        storage.append(contentsOf: bytes)
        pending.removeAll(keepingCapacity: true)

        let end = storage.count
        var start = 0
        storage.withUnsafeBytes { raw in
            var searchFrom = max(0, end - bytes.count)  // the pending part holds no newline
            while let newline = findNewline(raw, from: searchFrom, to: end) {
                emitLine(storage, start: start, end: newline, time: time, terminated: true, into: &records)
                start = newline + 1
                searchFrom = start
            }
        }
        // Unterminated rest: cut off full pieces, keep at most maxLineSize bytes waiting.
        if end - start > maxLineSize {
            start = emitPieces(storage, start: start, end: end, time: time, into: &records)
        }
        pending.append(contentsOf: storage[start..<end])
    }

    /// End of the stream: the held-back line goes out as a record.
    public mutating func finish(time readTime: Timestamp, into records: inout [LogRecord]) {
        guard !pending.isEmpty || group != nil else { return }
        let storage = pending
        pending = []
        emitLine(storage, start: 0, end: storage.count, time: monotonic(readTime), terminated: true, into: &records)
    }

    private mutating func monotonic(_ time: Timestamp) -> Timestamp {
        lastTime = max(lastTime, time)
        return lastTime
    }

    private mutating func emitLine(
        _ storage: [UInt8], start: Int, end: Int, time: Timestamp, terminated: Bool, into records: inout [LogRecord]
    ) {
        let start = end - start > maxLineSize ? emitPieces(storage, start: start, end: end, time: time, into: &records) : start
        if let g = group {
            records.append(LogRecord(time: g.time, stream: stream, line: storage[start..<end],
                                     partial: PartialInfo(id: g.id, ordinal: g.ordinal + 1, isLast: true)))
            group = nil
        } else {
            records.append(LogRecord(time: time, stream: stream, line: storage[start..<end]))
        }
    }

    /// Emits non-last pieces while more than `maxLineSize` bytes remain; returns the new start.
    private mutating func emitPieces(
        _ storage: [UInt8], start: Int, end: Int, time: Timestamp, into records: inout [LogRecord]
    ) -> Int {
        var start = start
        while end - start > maxLineSize {
            let cut = utf8Boundary(storage, start: start, proposed: start + maxLineSize)
            let g = group ?? (PartialID.random(using: &random), 0, time)
            group = (g.id, g.ordinal + 1, g.time)
            records.append(LogRecord(time: g.time, stream: stream, line: storage[start..<cut],
                                     partial: PartialInfo(id: g.id, ordinal: g.ordinal + 1, isLast: false)))
            start = cut
        }
        return start
    }
}

/// Moves a cut back over at most 3 continuation bytes so a character is not split.
func utf8Boundary(_ storage: [UInt8], start: Int, proposed: Int) -> Int {
    var cut = proposed
    while cut > start, proposed - cut < 3, storage[cut] & 0xC0 == 0x80 { cut -= 1 }
    if storage[cut] & 0xC0 == 0x80 || cut == start { return proposed }  // not UTF-8 here: cut anyway
    return cut
}

/// Index of the next `\n` in `raw[from..<to]`, eight bytes at a time.
@inline(__always)
func findNewline(_ raw: UnsafeRawBufferPointer, from: Int, to end: Int) -> Int? {
    var i = from
    let ones: UInt64 = 0x0101_0101_0101_0101
    let highs: UInt64 = 0x8080_8080_8080_8080
    let newlines: UInt64 = 0x0a0a_0a0a_0a0a_0a0a
    while i + 8 <= end {
        let word = raw.loadUnaligned(fromByteOffset: i, as: UInt64.self) ^ newlines
        let zeroes = (word &- ones) & ~word & highs
        if zeroes != 0 { return i + (UInt64(littleEndian: zeroes).trailingZeroBitCount >> 3) }
        i += 8
    }
    while i < end {
        if raw[i] == 0x0a { return i }
        i += 1
    }
    return nil
}
