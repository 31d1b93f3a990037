import SpillwayCore
import SpillwaySystem

extension DiskBuffer {
    /// mkdir -p, each directory created 0700.
    static func makeDirectories(_ path: String) throws(DiskBufferError) {
        var current = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/") {
            current += component
            do { try FileSystem.makeDirectory(current) } catch { throw .unwritable(path: path, cause: error) }
            current += "/"
        }
    }

    /// Locks `<directory>/lock` and writes our pid in it.
    static func takeLock(_ storage: Directory) throws(DiskBufferError) -> FileDescriptor {
        let directory = storage.path
        // Checked before the truncate below: never through a link, never a file of someone else.
        let fd = try StorageDirectory.openOwnFile(storage, "lock")
        let locked: Bool
        do { locked = try fd.tryLockExclusive() } catch {
            try? fd.close()
            throw .io(error)
        }
        guard locked else {
            let holder = try? fd.readAll(limit: 32)
            try? fd.close()
            throw .locked(
                path: directory,
                holderPID: holder.flatMap { Int32(String(decoding: $0, as: UTF8.self).filter { $0.isNumber }) })
        }
        do {
            try fd.truncate(to: 0)
            try Array("\(CurrentProcess.pid)\n".utf8).withUnsafeBytes { bytes in
                Result { () throws(SystemError) in try fd.write(bytes, at: 0) }
            }.get()
        } catch {
            try? fd.close()
            throw .unwritable(path: directory, cause: error)
        }
        return fd
    }

    /// Rebuilds the in-memory state from the directory (see "Recovery" in DiskBuffer.swift).
    func recover(ledger found: Ledger.Found) throws(SystemError) {
        let firsts = try storage.contents().compactMap(Layout.parseSegmentName).sorted()

        var start: UInt64
        // What the previous run recorded as stored; `appended` 0 when unknown.
        let recorded = found == .valid ? ledger.state : Ledger.State()
        switch found {
        case .valid:
            start = max(recorded.acknowledged, recorded.deleted)
            if recorded.inFlightDeleted > 0 {
                losses.append(DiskLoss(
                    reason: "read but not acknowledged when drop-oldest deleted their segment, and spillway "
                        + "stopped before their delivery was confirmed",
                    stream: nil, records: Int(recorded.inFlightDeleted), bytes: 0, timeRange: nil))
            }
        case .missing where firsts.isEmpty:
            start = 0
        case .missing, .damaged:
            start = firsts.first ?? 0
            recoveryNotes.append(
                "ledger \(found == .missing ? "missing" : "damaged"): replaying everything stored, so records "
                    + "delivered before may be delivered again")
        }

        // What became of the newest segment when it is not where the ledger says it ends.
        var newestNote: String?
        for (index, first) in firsts.enumerated() {
            let isNewest = index == firsts.count - 1
            guard let (size, problem) = try inspectSegment(first) else { continue }
            guard let problem else {
                segments.append(Segment(first: first, size: size))
                continue
            }
            let name = Layout.segmentName(first)
            if isNewest && size < Layout.segmentHeaderSize {
                try storage.remove(Layout.segmentName(first))
                if recorded.appended > first {
                    newestNote = "\(name) was cut to \(size) bytes (spillway left \(recorded.newestBytes)); removed"
                } else {
                    // Header and first frames go out in one write: nothing was stored in it.
                    recoveryNotes.append("removed \(name), created just before a crash (\(problem))")
                }
                continue
            }
            try moveToCorrupt(first)
            if !isNewest && firsts[index + 1] <= start {
                recoveryNotes.append("moved \(name) to corrupt/ (\(problem)); its records were all delivered")
            } else if isNewest {
                // Its positions are gone with it: the next record takes the first of them.
                newestNote = "\(name) could not be read (\(problem)); moved to corrupt/"
                if recorded.appended <= first {
                    losses.append(DiskLoss(
                        reason: newestNote! + " (record count unknown)", stream: nil, records: 0,
                        bytes: size, timeRange: nil))
                }
            } else {
                damageNotes.append((first, "\(name) could not be read (\(problem)); moved to corrupt/"))
            }
        }

        writerNext = max(writerNext, start)
        try recoverNewestSegment(replayFrom: start, recorded: recorded, note: newestNote)
        storedBytes = segments.reduce(0) { $0 + $1.size }
        scanNext = start
        settled = SettledPositions(prefix: start)
        for range in recorded.settledAbove where range.upperBound > start && range.lowerBound < writerNext {
            let kept = max(range.lowerBound, start)..<min(range.upperBound, writerNext)
            settled.insert(kept)
            replaySkips.append(kept)
        }
        try ledger.write(ledgerState(deleted: start))
        try release()
    }

    /// The size of a segment file and what is wrong with its header, if anything; nil when the
    /// file vanished meanwhile.
    private func inspectSegment(_ first: UInt64) throws(SystemError) -> (size: Int, problem: String?)? {
        let fd: FileDescriptor
        do throws(SystemError) { fd = try storage.open(Layout.segmentName(first), [.readOnly, .noFollow]) } catch {
            if error.isNotFound { return nil }
            throw error
        }
        defer { try? fd.close() }
        let size = try fd.size()
        do throws(SystemError) {
            return try withUnsafeTemporaryAllocation(byteCount: Layout.segmentHeaderSize, alignment: 8) {
                buffer throws(SystemError) in
                let count = try fd.read(into: buffer, at: 0)
                return (size, Layout.headerProblem(UnsafeRawBufferPointer(rebasing: buffer[0..<count]), first: first))
            }
        } catch {
            guard error.isMediaError else { throw error }
            return (size, "\(error)")
        }
    }

    /// Truncates a torn tail off the newest segment and sets the next position after its last
    /// valid frame; removes it when no frame is left. Records the ledger counted as appended and
    /// not found (a newest segment truncated, emptied, zeroed or deleted) are reported lost.
    private func recoverNewestSegment(
        replayFrom start: UInt64, recorded: Ledger.State, note: String?
    ) throws(SystemError) {
        var torn = 0
        var found: (first: UInt64, size: Int)?
        if let newest = segments.last {
            let fd = try storage.open(Layout.segmentName(newest.first), [.readWrite, .noFollow])
            defer { try? fd.close() }
            var scanner = FrameScanner(fd: fd, offset: Layout.segmentHeaderSize, minimumPosition: newest.first)
            var validEnd = Layout.segmentHeaderSize
            var next = newest.first
            scan: while true {
                switch try scanner.next(end: newest.size, positionLimit: .max) {
                case .record(_, let position):
                    validEnd = scanner.offset
                    next = position + 1
                case .damaged:
                    continue
                case .end:
                    break scan
                }
            }
            if validEnd < newest.size {
                try fd.truncate(to: validEnd)
                try fd.synchronizeData()
                segments[segments.count - 1].size = validEnd
                torn = newest.size - validEnd
                if next < start {
                    recoveryNotes.append(
                        "truncated \(torn) damaged bytes at the end of \(Layout.segmentName(newest.first)), all delivered before")
                    torn = 0
                }
            }
            writerNext = max(writerNext, next)
            found = (newest.first, validEnd)
            if validEnd == Layout.segmentHeaderSize {
                try storage.remove(Layout.segmentName(newest.first))
                segments.removeLast()
            }
        }
        let missing = writerNext..<max(writerNext, recorded.appended)
        let settledMissing = recorded.settledAbove.reduce(0) { $0 + overlapCount($1, missing) }
        let records = missing.count - settledMissing
        guard records > 0 else {
            if torn > 0 {
                // Appended after the ledger last recorded the end: a write interrupted by a crash.
                losses.append(DiskLoss(
                    reason: "damaged or incomplete record at the end of \(Layout.segmentName(found!.first)) (a write "
                        + "interrupted by a crash); \(torn) bytes truncated",
                    stream: nil, records: 1, bytes: torn, timeRange: nil))
            }
            return
        }
        // Bytes of frames the ledger's newest segment held and the directory no longer does.
        let left = found.map { $0.first == recorded.newestFirst ? $0.size : Layout.segmentHeaderSize }
            ?? Layout.segmentHeaderSize
        let bytes = max(0, Int(recorded.newestBytes) - left)
        let what = note
            ?? (found?.first == recorded.newestFirst
                ? "\(Layout.segmentName(recorded.newestFirst)) is shorter than spillway left it (\(recorded.newestBytes) "
                    + "bytes, \(left) valid)"
                : "segment files from position \(missing.lowerBound) on were removed from the storage directory")
        losses.append(DiskLoss(reason: what, stream: nil, records: records, bytes: bytes, timeRange: nil))
    }
}
