/// Joins one stream's lines into multiline records: a line the start matcher accepts begins a
/// record, any other line joins the one being held with `\n` (the first line of a stream begins
/// one whatever it is, as in Docker's awslogs driver). A joined record has no trailing newline.
///
/// Input is the Framer's output: a piece after the first of a cut line continues the held bytes
/// without a newline. A held record longer than `maxLineSize` is cut into partial records as the
/// Framer cuts lines (one id, the first line's time, ordinals from 1, the last flagged).
public struct MultilineGrouper {
    public let stream: LogStream
    public let maxLineSize: Int
    private let startsRecord: (ArraySlice<UInt8>) -> Bool
    /// A held record of one line, kept as the Framer's slice: no copy unless a line joins it.
    private var single: LogRecord?
    /// A held record of several lines (or pieces), at most `maxLineSize` bytes.
    private var joined: [UInt8] = []
    private var isJoining = false
    private var time = Timestamp(nanoseconds: 0)
    private var partial: (id: PartialID, ordinal: Int32)?
    private var random = SystemRandomNumberGenerator()

    public init(stream: LogStream, maxLineSize: Int, startsRecord: @escaping (ArraySlice<UInt8>) -> Bool) {
        precondition(maxLineSize > 0)
        self.stream = stream
        self.maxLineSize = maxLineSize
        self.startsRecord = startsRecord
    }

    /// A record is held, waiting for its next line, a start line, the flush interval or EOF.
    public var isHolding: Bool { single != nil || isJoining }

    /// Adds one record of the Framer's; appends what it completes to `out`.
    public mutating func add(_ record: LogRecord, into out: inout [LogRecord]) {
        let continuesPiece = (record.partial?.ordinal ?? 1) > 1
        if !isHolding || (!continuesPiece && startsRecord(record.line)) {
            flush(into: &out)
            time = record.time
            if record.partial == nil {
                single = record
            } else {
                append(record.line, separator: false, into: &out)
            }
        } else {
            append(record.line, separator: !continuesPiece, into: &out)
        }
    }

    /// Releases the held record (next start line, flush interval, EOF).
    public mutating func flush(into out: inout [LogRecord]) {
        if let record = single {
            out.append(record)
            single = nil
        } else if isJoining {
            out.append(LogRecord(time: time, stream: stream, line: joined[...], partial: nextPiece(isLast: true)))
            joined = []
            isJoining = false
            partial = nil
        }
    }

    private mutating func append(_ line: ArraySlice<UInt8>, separator: Bool, into out: inout [LogRecord]) {
        if let record = single {
            joined.append(contentsOf: record.line)
            single = nil
        }
        isJoining = true
        if separator { joined.append(0x0a) }
        joined.append(contentsOf: line)
        guard joined.count > maxLineSize else { return }
        var start = 0
        while joined.count - start > maxLineSize {
            let cut = utf8Boundary(joined, start: start, proposed: start + maxLineSize)
            out.append(LogRecord(time: time, stream: stream, line: joined[start..<cut], partial: nextPiece(isLast: false)))
            start = cut
        }
        joined = Array(joined[start...])
    }

    private mutating func nextPiece(isLast: Bool) -> PartialInfo? {
        guard let p = partial else {
            if isLast { return nil }
            let id = PartialID.random(using: &random)
            partial = (id, 1)
            return PartialInfo(id: id, ordinal: 1, isLast: false)
        }
        partial = (p.id, p.ordinal + 1)
        return PartialInfo(id: p.id, ordinal: p.ordinal + 1, isLast: isLast)
    }
}
