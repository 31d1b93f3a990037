import SpillwayCore
import SpillwaySystem

/// A batch being read, and its limits.
struct BatchBuilder {
    let maxRecords: Int
    let maxBytes: Int
    let bytesPerRecord: Int
    var records: [LogRecord] = []
    var bytes = 0

    init(maxRecords: Int, maxBytes: Int, bytesPerRecord: Int) {
        self.maxRecords = maxRecords
        self.maxBytes = maxBytes
        self.bytesPerRecord = bytesPerRecord
    }

    var isFull: Bool { records.count >= maxRecords }

    /// Whether `record` fits; the first one always does.
    func fits(_ record: LogRecord) -> Bool {
        records.isEmpty || bytes + record.line.count + bytesPerRecord <= maxBytes
    }

    mutating func add(_ record: LogRecord) {
        records.append(record)
        bytes += record.line.count + bytesPerRecord
    }
}

extension DiskBuffer {
    /// Reads records into `batch` until it is full or the reader has caught up with the writer,
    /// accounting for damage and gaps on the way.
    func fill(_ batch: inout BatchBuilder) throws(SystemError) {
        // Nothing unread: no need to look at the disk (which lags after reads from memory).
        while !batch.isFull && scanNext < writerNext {
            if damagedBytes == 0 && !recent.isEmpty {
                let taken = recent.take(at: scanNext, into: &batch)
                if taken > 0 {
                    scanNext += UInt64(taken)
                    diskLags = true
                    continue
                }
                // The next record is kept but does not fit this batch.
                if !recent.isEmpty && recent.first == scanNext { return }
            }
            if diskLags { catchUpOnDisk() }
            if stashed == nil && damagedBytes == 0 && scanner != nil {
                // The common case, on local state: records in order within the loaded chunk.
                var next = scanNext
                let full = scanner!.take(
                    into: &batch, expected: &next, end: segments[readIndex].size, positionLimit: writerNext)
                scanNext = next
                if full { return }
            }
            guard let step = try nextStep() else { return }
            switch step {
            case .record(let record, let position):
                // Below: acknowledged before a restart that replays from earlier in the segment.
                if position < scanNext { continue }
                guard batch.fits(record) else {
                    stashed = step
                    return
                }
                if position > scanNext || damagedBytes > 0 { recordGap(upTo: position) }
                scanNext = position + 1
                batch.add(record)
            case .damaged(let bytes):
                damagedBytes += bytes
                damagedSegment = segments[readIndex].first
            case .end:
                // The newest segment may still grow; an older one is done.
                guard readIndex + 1 < segments.count else { return }
                leaveSegment()
                readIndex += 1
            }
        }
    }

    /// After records came from memory the reader's place on disk is behind: move it to the
    /// segment holding `scanNext` (frames below `scanNext` are skipped as it reads on).
    private func catchUpOnDisk() {
        diskLags = false
        guard let target = segments.lastIndex(where: { $0.first <= scanNext }), target > readIndex else { return }
        leaveSegment()
        readIndex = target
    }

    /// The stashed step, or the next from the segment being read (entering it first); nil when
    /// there is no segment to read.
    private func nextStep() throws(SystemError) -> FrameScanner.Step? {
        if let step = stashed {
            stashed = nil
            return step
        }
        while true {
            if scanner == nil {
                guard readIndex < segments.count else { return nil }
                guard try enterSegment() else { continue }
            }
            do throws(SystemError) {
                return try scanner!.next(end: segments[readIndex].size, positionLimit: writerNext)
            } catch {
                guard error.isMediaError, !isActive(readIndex) else { throw error }
                try quarantine(at: readIndex, why: "\(error)")
            }
        }
    }

    /// Opens the segment at `readIndex`, accounting for positions missing before it. False when
    /// the segment turned out to be gone or unreadable (and was forgotten).
    private func enterSegment() throws(SystemError) -> Bool {
        let segment = segments[readIndex]
        if segment.first > scanNext || damagedBytes > 0 { recordGap(upTo: segment.first) }
        scanNext = max(scanNext, segment.first)
        do throws(SystemError) {
            let fd = try storage.open(Layout.segmentName(segment.first), [.readOnly, .noFollow])
            scanner = FrameScanner(fd: fd, offset: Layout.segmentHeaderSize, minimumPosition: segment.first)
            return true
        } catch {
            if error.isNotFound {
                let name = Layout.segmentName(segment.first)
                damageNotes.append((segment.first, "\(name) was removed from the storage directory"))
                if isActive(readIndex) {
                    // Appends went to a file no longer in the directory: start a new one.
                    try? writer?.close()
                    writer = nil
                }
                removeSegment(at: readIndex)
                return false
            }
            guard error.isMediaError, !isActive(readIndex) else { throw error }
            try quarantine(at: readIndex, why: "\(error)")
            return false
        }
    }

    /// Moves the reader past settled ranges it has reached.
    func skipReplaySettled() {
        while let range = replaySkips.first, range.lowerBound <= scanNext {
            scanNext = max(scanNext, range.upperBound)
            replaySkips.removeFirst()
        }
    }

    func isReplaySkipped(_ position: UInt64) -> Bool { replaySkips.contains { $0.contains(position) } }

    /// Positions of `range` in ranges settled before this start.
    func replaySkippedCount(in range: Range<UInt64>) -> Int {
        replaySkips.reduce(0) { $0 + overlapCount($1, range) }
    }

    private func isActive(_ index: Int) -> Bool { writer != nil && index == segments.count - 1 }

    func leaveSegment() {
        try? scanner?.fd.close()
        scanner = nil
        stashed = nil
    }

    /// Reports positions from `scanNext` up to `end` as lost, with the reason the damage notes or
    /// the skipped bytes give, and settles them.
    private func recordGap(upTo end: UInt64) {
        let gap = scanNext..<max(scanNext, end)
        let notes = damageNotes.filter { $0.first < gap.upperBound }.map(\.text)
        damageNotes.removeAll { $0.first < gap.upperBound }
        let reason: String
        if !notes.isEmpty {
            reason = notes.joined(separator: "; ")
        } else if damagedBytes > 0 {
            reason = "checksum mismatch in \(Layout.segmentName(damagedSegment)): \(damagedBytes) damaged bytes skipped"
        } else {
            reason = "records missing from the storage directory (a segment file was removed)"
        }
        let records = gap.count - replaySkippedCount(in: gap)
        losses.append(DiskLoss(reason: reason, stream: nil, records: records, bytes: damagedBytes, timeRange: nil))
        settled.insert(gap)
        damagedBytes = 0
    }

    /// Moves segment `index` to corrupt/ and forgets it; the reader reports its records as lost
    /// when it reaches the gap.
    func quarantine(at index: Int, why: String) throws(SystemError) {
        let first = segments[index].first
        try moveToCorrupt(first)
        damageNotes.append((first, "\(Layout.segmentName(first)) could not be read (\(why)); moved to corrupt/"))
        removeSegment(at: index)
    }

    func moveToCorrupt(_ first: UInt64) throws(SystemError) {
        try storage.makeDirectory("corrupt")
        let corrupt = try storage.openDirectory("corrupt")
        defer { try? corrupt.close() }
        try storage.rename(Layout.segmentName(first), to: Layout.segmentName(first), in: corrupt)
    }
}
