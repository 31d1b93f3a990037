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
    static func takeLock(_ directory: String) throws(DiskBufferError) -> FileDescriptor {
        // Checked before the truncate below: never through a link, never a file of someone else.
        let fd = try StorageDirectory.openOwnFile(directory, "lock")
        let locked: Bool
        do { locked = try fd.tryLockExclusive() } catch {
            try? fd.close()
            throw .io(error)
        }
        guard locked else {
            let holder = try? readSmallFile(directory + "/lock", limit: 32)
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
        let firsts = try FileSystem.contents(ofDirectory: directory).compactMap(Layout.parseSegmentName).sorted()

        var start: UInt64
        switch found {
        case .valid:
            let state = ledger.state
            start = max(state.acknowledged, state.deleted)
            if state.inFlightDeleted > 0 {
                losses.append(DiskLoss(
                    reason: "read but not acknowledged when drop-oldest deleted their segment, and spillway "
                        + "stopped before their delivery was confirmed",
                    stream: nil, records: Int(state.inFlightDeleted), bytes: 0, timeRange: nil))
            }
        case .missing where firsts.isEmpty:
            start = 0
        case .missing, .damaged:
            start = firsts.first ?? 0
            recoveryNotes.append(
                "ledger \(found == .missing ? "missing" : "damaged"): replaying everything stored, so records "
                    + "delivered before may be delivered again")
        }

        for (index, first) in firsts.enumerated() {
            let isNewest = index == firsts.count - 1
            guard let (size, problem) = try inspectSegment(first) else { continue }
            guard let problem else {
                segments.append(Segment(first: first, size: size))
                continue
            }
            let name = Layout.segmentName(first)
            if isNewest && size < Layout.segmentHeaderSize {
                // Header and first frames go out in one write: nothing was stored in it.
                try FileSystem.remove(path(first))
                recoveryNotes.append("removed \(name), created just before a crash (\(problem))")
                continue
            }
            try moveToCorrupt(first)
            if !isNewest && firsts[index + 1] <= start {
                recoveryNotes.append("moved \(name) to corrupt/ (\(problem)); its records were all delivered")
            } else if isNewest {
                // No later segment tells how many records it held.
                losses.append(DiskLoss(
                    reason: "\(name) could not be read (\(problem)); moved to corrupt/ (record count unknown)",
                    stream: nil, records: 0, bytes: size, timeRange: nil))
                writerNext = max(writerNext, first + 1)
            } else {
                damageNotes.append((first, "\(name) could not be read (\(problem)); moved to corrupt/"))
            }
        }

        writerNext = max(writerNext, start)
        try recoverNewestSegment(replayFrom: start)
        storedBytes = segments.reduce(0) { $0 + $1.size }
        scanNext = start
        settled = SettledPositions(prefix: start)
        let state = Ledger.State(acknowledged: start, deleted: start)
        if found != .valid || ledger.state != state { try ledger.write(state) }
        try release()
    }

    /// The size of a segment file and what is wrong with its header, if anything; nil when the
    /// file vanished meanwhile.
    private func inspectSegment(_ first: UInt64) throws(SystemError) -> (size: Int, problem: String?)? {
        let fd: FileDescriptor
        do throws(SystemError) { fd = try .open(path(first), [.readOnly, .noFollow]) } catch {
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
    /// valid frame; removes it when no frame is left.
    private func recoverNewestSegment(replayFrom start: UInt64) throws(SystemError) {
        guard let newest = segments.last else { return }
        let name = Layout.segmentName(newest.first)
        let fd = try FileDescriptor.open(path(newest.first), [.readWrite, .noFollow])
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
            let torn = newest.size - validEnd
            if next >= start {
                losses.append(DiskLoss(
                    reason: "damaged or incomplete record at the end of \(name) (a write interrupted by a "
                        + "crash); \(torn) bytes truncated",
                    stream: nil, records: 1, bytes: torn, timeRange: nil))
            } else {
                recoveryNotes.append("truncated \(torn) damaged bytes at the end of \(name), all delivered before")
            }
        }
        writerNext = max(writerNext, next)
        if validEnd == Layout.segmentHeaderSize {
            try FileSystem.remove(path(newest.first))
            segments.removeLast()
        }
    }
}
