import SpillwayCore

/// One CloudWatch log event: a record's repaired message, or a piece of it.
struct PlannedEvent {
    /// Index of the record in the batch.
    var record: Int
    /// Byte offset of this piece in the record's repaired message (0 for a whole message).
    var offset: Int
    var timestamp: Int64
    var message: ArraySlice<UInt8>

    var key: EventKey { EventKey(record: record, offset: offset) }
}

struct EventKey: Hashable {
    var record: Int
    var offset: Int
}

/// A batch turned into PutLogEvents requests that each satisfy the service's limits.
struct EventPlan {
    /// In chronological order (stable for equal timestamps).
    var events: [PlannedEvent] = []
    /// Consecutive ranges of `events`, one per request.
    var requests: [Range<Int>] = []
    /// Records refused before sending, with their reason.
    var rejected: [Int: DropReason] = [:]
}

/// Turns records into requests (docs/architecture.md, "Wire formats"): invalid UTF-8 becomes U+FFFD before any
/// size is computed; empty messages are not sent; a message over the event cap is cut at UTF-8
/// boundaries into consecutive events; events are sorted by time (stable); a request holds at most
/// 10,000 events, 1,048,576 bytes counting 26 per event, and less than 24 hours.
struct EventPlanner: Sendable {
    var maxEvents = 10_000
    var maxBytes = 1_048_576
    var bytesPerEvent = 26
    /// The event cap as spillway applies it; lowered if the service calls an event too large.
    var maxMessageBytes = 1_000_000
    var maxSpanMilliseconds: Int64 = 24 * 3_600_000
    /// Events clearly outside what the service accepts (older than 14 days, more than 2 hours
    /// ahead) are refused here; `margin` leaves the borderline to the service's own clock.
    var maxAgeMilliseconds: Int64 = 14 * 86_400_000
    var maxAheadMilliseconds: Int64 = 2 * 3_600_000
    var marginMilliseconds: Int64 = 60_000
    /// What each message is made of (SPILLWAY_CLOUDWATCH_MESSAGE).
    enum Body {
        case line
        /// The record as a JSON object (the console sink's encoding).
        case record(ConsoleEncoder)
        case source
        case fixed([UInt8])
    }
    var body = Body.line

    static let stdout = Array("stdout".utf8)[...]
    static let stderr = Array("stderr".utf8)[...]
    static let emptyReason = DropReason.emptyLine
    static let tooOldReason = DropReason.rejected("too old")
    static let tooNewReason = DropReason.rejected("too new")
    static let expiredReason = DropReason.rejected("expired")

    /// `skip` lists events a previous attempt of the same batch already delivered.
    func plan(_ records: [LogRecord], now: Timestamp, skip: Set<EventKey> = []) -> EventPlan {
        var plan = EventPlan()
        plan.events.reserveCapacity(records.count)
        let nowMS = Self.milliseconds(now)
        var sorted = true
        var last = Int64.min
        var seconds = ConsoleEncoder.SecondCache()
        // By index: copying each LogRecord out of the array costs a retain/release pair per field.
        for index in records.indices {
            if records[index].line.isEmpty {
                plan.rejected[index] = Self.emptyReason
                continue
            }
            let ms = Self.milliseconds(records[index].time)
            if ms < nowMS - maxAgeMilliseconds - marginMilliseconds {
                plan.rejected[index] = Self.tooOldReason
                continue
            }
            if ms > nowMS + maxAheadMilliseconds + marginMilliseconds {
                plan.rejected[index] = Self.tooNewReason
                continue
            }
            let message: ArraySlice<UInt8>
            switch body {
            case .line:
                message = UTF8Text.valid(records[index].line)
            case .record(let encoder):
                var json: [UInt8] = []
                encoder.encode(records[index], into: &json, cache: &seconds)
                message = json.dropLast()  // the JSON line's newline
            case .source:
                message = records[index].stream == .stdout ? Self.stdout : Self.stderr
            case .fixed(let value):
                message = value[...]
            }
            var start = message.startIndex
            while start < message.endIndex {
                let piece = message[start...]
                let end = UTF8Text.boundary(in: piece, atMost: maxMessageBytes)
                let event = PlannedEvent(record: index, offset: start - message.startIndex, timestamp: ms,
                                         message: message[start..<end])
                if skip.isEmpty || !skip.contains(event.key) {
                    if ms < last { sorted = false }
                    last = ms
                    plan.events.append(event)
                }
                start = end
            }
        }
        if !sorted {
            // Pairing with the position makes the sort stable whatever the algorithm.
            plan.events = plan.events.enumerated()
                .sorted { ($0.element.timestamp, $0.offset) < ($1.element.timestamp, $1.offset) }
                .map(\.element)
        }
        plan.requests = split(plan.events)
        return plan
    }

    /// CloudWatch timestamps are milliseconds; floor, so times before 1970 stay ordered.
    static func milliseconds(_ t: Timestamp) -> Int64 {
        let q = t.nanoseconds / 1_000_000
        return t.nanoseconds % 1_000_000 < 0 ? q - 1 : q
    }

    private func split(_ events: [PlannedEvent]) -> [Range<Int>] {
        var requests: [Range<Int>] = []
        var start = 0
        var bytes = 0
        for (i, event) in events.enumerated() {
            let size = event.message.count + bytesPerEvent
            if i > start,
               i - start >= maxEvents || bytes + size > maxBytes
                || event.timestamp - events[start].timestamp >= maxSpanMilliseconds {
                requests.append(start..<i)
                start = i
                bytes = 0
            }
            bytes += size
        }
        if start < events.count { requests.append(start..<events.count) }
        return requests
    }
}

/// What the service refused in one request (`rejectedLogEventsInfo`), as reasons per event
/// position in that request.
struct RejectedEventsInfo: Equatable {
    var tooNewStart: Int?
    var tooOldEnd: Int?
    var expiredEnd: Int?

    init(tooNewStart: Int? = nil, tooOldEnd: Int? = nil, expiredEnd: Int? = nil) {
        self.tooNewStart = tooNewStart
        self.tooOldEnd = tooOldEnd
        self.expiredEnd = expiredEnd
    }

    init?(_ json: JSONValue?) {
        guard let json, case .object = json else { return nil }
        tooNewStart = json["tooNewLogEventStartIndex"]?.int
        tooOldEnd = json["tooOldLogEventEndIndex"]?.int
        expiredEnd = json["expiredLogEventEndIndex"]?.int
        if tooNewStart == nil && tooOldEnd == nil && expiredEnd == nil { return nil }
    }

    /// Reason for the event at `position` of a request of `count` events, or nil if accepted.
    /// The service's end indices are exclusive; the start index is inclusive.
    func reason(at position: Int) -> DropReason? {
        if let e = expiredEnd, position < e { return EventPlanner.expiredReason }
        if let o = tooOldEnd, position < o { return EventPlanner.tooOldReason }
        if let n = tooNewStart, position >= n { return EventPlanner.tooNewReason }
        return nil
    }
}

/// Record-level rejections as the delivery core takes them: runs of consecutive indices with the
/// same reason.
func rejections(from reasons: [Int: DropReason]) -> [Rejection] {
    var out: [Rejection] = []
    for index in reasons.keys.sorted() {
        let reason = reasons[index]!
        if let lastRun = out.last, lastRun.indices.upperBound == index, lastRun.reason == reason {
            out[out.count - 1].indices = lastRun.indices.lowerBound..<(index + 1)
        } else {
            out.append(Rejection(indices: index..<(index + 1), reason: reason))
        }
    }
    return out
}
