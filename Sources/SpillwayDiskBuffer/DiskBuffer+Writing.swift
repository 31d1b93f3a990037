import SpillwayCore
import SpillwaySystem

/// Why drop-oldest deleted a segment, for the loss's reason.
enum DropCause {
    case limit
    case diskFull

    var text: String {
        switch self {
        case .limit: "storage limit (SPILLWAY_STORAGE_LIMIT) reached"
        case .diskFull: "disk full"
        }
    }
}

extension DiskBuffer {
    /// Whether the active segment takes a frame of `size` bytes: it must stay within
    /// `segmentSize`, unless it holds no frame yet.
    func activeSegmentHasRoom(for size: Int) -> Bool {
        segmentTakes(size, used: segments[segments.count - 1].size + pending.count)
    }

    func segmentTakes(_ size: Int, used: Int) -> Bool {
        used <= Layout.segmentHeaderSize || used + size <= segmentSize
    }

    /// Frees space until `bytes` more fit the limit. False when they cannot (`.block`, or
    /// nothing left to drop).
    func makeRoom(for bytes: Int) throws(SystemError) -> Bool {
        if removingBytes > 0 && storedBytes + removingBytes + pending.count + bytes > options.limit {
            // Files of settled segments still being deleted in the background count until gone.
            try finishBackgroundWork()
        }
        while storedBytes + pending.count + bytes > options.limit {
            if try rollSettledSegment() { continue }
            if settled.prefix >= writerNext { return true }
            if try dropOldestSegment(cause: .limit) { continue }
            return false
        }
        return true
    }

    /// When everything is acknowledged but the active segment still holds it, rolling deletes
    /// it: the way out of the limit or a full disk once the sink caught up.
    func rollSettledSegment() throws(SystemError) -> Bool {
        guard writer != nil, segments[segments.count - 1].size > Layout.segmentHeaderSize,
            settled.prefix >= writerNext
        else { return false }
        try roll()
        return true
    }

    /// Encodes records from the start of `records` while they fit the active segment and the
    /// limit (the first one always: the caller checked it). Returns the index after the last.
    func encode(_ records: ArraySlice<LogRecord>) -> Int {
        // Locals, not properties, in the per-record loop: no exclusivity checks there.
        var buffer = pending
        var count = pendingRecords
        defer {
            pending = buffer
            pendingRecords = count
        }
        let (segmentBytes, storedBytes, limit, first) =
            (segments[segments.count - 1].size, storedBytes, options.limit, writerNext)
        for index in records.indices {
            let record = records[index]
            let size = Layout.frameSize(record)
            if index > records.startIndex
                && (!segmentTakes(size, used: segmentBytes + buffer.count) || storedBytes + buffer.count + size > limit)
            {
                return index
            }
            buffer.commit(Layout.encodeFrame(record, position: first + UInt64(count), into: buffer.reserve(size)))
            count += 1
        }
        return records.endIndex
    }

    /// Writes the encoded frames to the active segment. False on a full disk, with the partial
    /// write undone and the encoded records dropped (the caller still holds them).
    func writePending() throws(SystemError) -> Bool {
        guard let writer, pending.count > 0 else { return true }
        let index = segments.count - 1
        let offset = segments[index].size
        defer {
            pending.clear()
            pendingRecords = 0
        }
        do throws(SystemError) {
            try writer.write(pending.bytes, at: offset)
        } catch {
            guard error.isOutOfSpace else { throw error }
            if offset == 0 {
                // Not even the header fit: the new segment goes.
                self.writer = nil
                try? writer.close()
                try storage.remove(Layout.segmentName(segments[index].first))
                removeSegment(at: index)
            } else {
                try writer.truncate(to: offset)
            }
            return false
        }
        segments[index].size += pending.count
        storedBytes += pending.count
        writerNext += UInt64(pendingRecords)
        return true
    }

    /// Creates the next segment and puts its header in the write buffer. False on a full disk.
    func openSegment() throws(SystemError) -> Bool {
        let first = writerNext
        do throws(SystemError) {
            writer = try storage.open(Layout.segmentName(first), [.writeOnly, .create, .exclusive, .noFollow])
        } catch {
            guard error.isOutOfSpace else { throw error }
            return false
        }
        segments.append(Segment(first: first, size: 0))
        directoryDirty = true
        let header = pending.reserve(Layout.segmentHeaderSize)
        Layout.encodeSegmentHeader(first: first, into: header)
        pending.commit(Layout.segmentHeaderSize)
        return true
    }

    /// Finishes the active segment (fdatasync: the sync policy's "fsync on roll"; in the
    /// background with `normal`) and deletes it at once if everything in it is already settled.
    func roll() throws(SystemError) {
        guard let finished = writer else { return }
        writer = nil
        if settled.prefix >= writerNext {
            // All acknowledged: `release` deletes it; forcing it to disk first is wasted I/O.
            try? finished.close()
        } else if options.sync == .normal {
            background.synchronizeAndClose(finished)
            closingInBackground = true
            synchronizeDirectoryInBackground()
            try background.check()
        } else {
            defer { try? finished.close() }
            try finished.synchronizeData()
            try synchronizeDirectoryIfNeeded()
        }
        try release()
    }

    func synchronizeDirectoryIfNeeded() throws(SystemError) {
        guard directoryDirty else { return }
        try storage.synchronize()
        directoryDirty = false
    }

    /// On a full disk: waits for the deletes of settled segments and the closes of finished ones
    /// still queued, if any. True when there were some (space may have been freed: try again).
    func freeSpaceBeingReleased() throws(SystemError) -> Bool {
        guard removingBytes > 0 || closingInBackground else { return false }
        try finishBackgroundWork()
        return true
    }

    /// Waits for the background syncs and deletes queued so far.
    func finishBackgroundWork() throws(SystemError) {
        try background.finish()
        removingBytes = 0
        closingInBackground = false
    }

    func synchronizeDirectoryInBackground() {
        guard directoryDirty else { return }
        background.synchronize(storage)
        directoryDirty = false
    }

    /// Records the settled prefix in the ledger and deletes the segments below it.
    func release() throws(SystemError) {
        try updateLedger()
        while let oldest = segments.first, writer == nil || segments.count > 1,
            endPosition(of: 0) <= settled.prefix
        {
            // The ledger must be durable before the data it accounts for disappears. With
            // `normal`, both happen in order on the background queue: the segment is settled,
            // only its file is left, and the reader must not wait for the disk.
            if options.sync == .normal {
                try ledger.synchronize(in: background)
                background.remove(Layout.segmentName(oldest.first), in: storage)
                removingBytes += oldest.size
            } else {
                try ledger.synchronize()
                try storage.remove(Layout.segmentName(oldest.first))
            }
            removeSegment(at: 0)
        }
    }

    /// Writes the ledger when replay or deletion would differ (the settled prefix, and after
    /// drop-oldest deleted records in flight, how many of those are still unacknowledged), or
    /// with `recordingAppends` when anything it records changed: the sync policy's points, where
    /// what was appended becomes what a restart must find.
    func updateLedger(deleted: UInt64 = 0, recordingAppends: Bool = false) throws(SystemError) {
        let new = ledgerState(deleted: max(deleted, ledger.state.deleted))
        if recordingAppends ? new != ledger.state : new.differsInSettlement(from: ledger.state) { try ledger.write(new) }
    }

    func ledgerState(deleted: UInt64) -> Ledger.State {
        let prefix = settled.prefix
        var new = Ledger.State(acknowledged: prefix, deleted: deleted)
        if new.deleted > prefix {
            new.inFlightDeleted = new.deleted - prefix - settled.count(in: prefix..<new.deleted)
        }
        new.appended = writerNext
        new.newestFirst = segments.last?.first ?? writerNext
        new.newestBytes = UInt64(segments.last?.size ?? 0)
        new.settledAbove = settled.rangesAbovePrefix(limit: Ledger.maxSettledRanges)
        return new
    }

    /// Deletes the oldest segment to make room (`.dropOldest` only), reporting its records that
    /// were not yet read; those read and in flight are still delivered or retried from memory.
    func dropOldestSegment(cause: DropCause) throws(SystemError) -> Bool {
        guard options.full == .dropOldest, !segments.isEmpty else { return false }
        if writer != nil && segments.count == 1 {
            guard segments[0].size > Layout.segmentHeaderSize else { return false }
            try roll()
            if segments.isEmpty { return true }
        }
        let victim = segments[0]
        let end = endPosition(of: 0)
        if scanNext < end {
            try reportDropped(victim, positions: scanNext..<end, cause: cause)
            settled.insert(scanNext..<end)
            recent.drop(below: end)
            scanNext = end
            damagedBytes = 0
            damageNotes.removeAll { $0.first < end }
        }
        try updateLedger(deleted: end)
        try ledger.synchronize()
        try storage.remove(Layout.segmentName(victim.first))
        removeSegment(at: 0)
        try release()
        return true
    }

    /// Counts the records of `segment` at `positions` by stream, with their bytes and times.
    private func reportDropped(_ segment: Segment, positions: Range<UInt64>, cause: DropCause) throws(SystemError) {
        var tallies: [LogStream: DiskLoss] = [:]
        var found = 0
        var damaged = damagedBytes
        let reason = "\(cause.text): drop-oldest deleted \(Layout.segmentName(segment.first))"
        do throws(SystemError) {
            let fd = try storage.open(Layout.segmentName(segment.first), [.readOnly, .noFollow])
            defer { try? fd.close() }
            var scanner = FrameScanner(fd: fd, offset: Layout.segmentHeaderSize, minimumPosition: segment.first)
            scan: while true {
                switch try scanner.next(end: segment.size, positionLimit: writerNext) {
                case .record(let record, let position):
                    guard positions.contains(position), !isReplaySkipped(position) else { continue }
                    found += 1
                    var loss = tallies[record.stream]
                        ?? DiskLoss(
                            reason: reason, stream: record.stream, records: 0, bytes: 0, timeRange: nil,
                            droppedForSpace: true)
                    loss.records += 1
                    loss.bytes += record.line.count
                    loss.timeRange = loss.timeRange.map {
                        min($0.lowerBound, record.time)...max($0.upperBound, record.time)
                    } ?? record.time...record.time
                    tallies[record.stream] = loss
                case .damaged(let bytes):
                    damaged += bytes
                case .end:
                    break scan
                }
            }
        } catch {
            // Unreadable now: its records are counted below as undecodable.
            guard error.isNotFound || error.isMediaError else { throw error }
        }
        losses += LogStream.allCases.compactMap { tallies[$0] }
        let expected = positions.count - replaySkippedCount(in: positions)
        if found < expected || damaged > 0 {
            losses.append(DiskLoss(
                reason: reason + " (records that could not be decoded)", stream: nil,
                records: expected - found, bytes: damaged, timeRange: nil, droppedForSpace: true))
        }
    }

    /// Forgets segment `index` (its file is gone or moved), keeping the reader's place.
    func removeSegment(at index: Int) {
        storedBytes -= segments[index].size
        segments.remove(at: index)
        if readIndex == index {
            leaveSegment()
        } else if readIndex > index {
            readIndex -= 1
        }
    }

    /// One past the last position segment `index` may hold.
    func endPosition(of index: Int) -> UInt64 {
        index + 1 < segments.count ? segments[index + 1].first : writerNext
    }
}
