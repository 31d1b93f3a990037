// # The disk buffer (filesystem mode)
//
// Records are appended to segment files in a storage directory, read back in order, and deleted
// once the sink has acknowledged them; it survives a crash or restart of spillway and replays
// what was not acknowledged. One caller drives it (the delivery core, on its serial queue).
//
// ## Invariants
//
// - Every record gets a position: 0, 1, 2, … in append order, never reused while a record with
//   that position may still exist. Positions grow across segments and across restarts.
// - A record is written (write(2)) before `append` returns, so a crash of spillway alone loses
//   nothing stored; fsync follows the sync policy: `full` before `append` returns; `normal` on
//   segment roll and every flush interval, started in the background (`BackgroundSync`) so that
//   the disk's latency never stalls the reader, and waited for by `sync()` and `close()`.
// - Records are framed with their length and a CRC32C; a frame never spans two segments.
// - Segments are named by the position of their first record and hold consecutive positions.
//   Only the newest segment takes appends (the "active" one); older ones are immutable.
// - Replay starts at the ledger's `acknowledged` position: every record below it was
//   acknowledged or accounted as lost. Acknowledgements may come out of order; the ledger also
//   records up to 251 ranges settled above the prefix, which a restart skips. Only batches in
//   flight are redelivered (at-least-once), and `unacknowledgedCount` is what the next start finds.
// - The ledger records `appended` (the next position) and the newest segment's size, at the
//   sync policy's points (and whenever it is written): records counted there and not found at
//   the next start (a newest segment truncated, emptied, zeroed or deleted) are lost, counted
//   exactly. With `normal`, appends after the last sync may be unknown after a power loss.
// - A segment is deleted only when every position in it is settled (acknowledged or lost), or
//   by drop-oldest. Before a delete, the ledger accounting for it is fsynced: a power loss can
//   never leave the ledger behind a deleted segment, so a gap found at start-up is a real loss.
// - Bytes of segment files ≤ `limit`, except that an empty buffer accepts any one record (a
//   record larger than the limit would otherwise block forever).
// - Every record lost is reported once through `takeLosses()` with its reason: dropped by
//   drop-oldest, skipped as damaged, in a segment moved to corrupt/ or removed by someone else.
//
// ## Files (all in the storage directory; directories 0700, files 0600)
//
// The directory must be ours (or root's) and not writable by group or others unless sticky and
// ours (`StorageDirectory`), checked on the descriptor the buffer then holds: every file is
// opened, renamed and removed relative to it (openat, renameat, unlinkat), so replacing the path
// later redirects nothing. Files are opened with O_NOFOLLOW, lock and ledger checked to be
// regular files of ours: root must never write through a planted link.
//
//   lock                  flock(2)ed while a buffer is open; holds the holder's pid in decimal.
//                         Created by the first open, never deleted (deleting a locked file lets
//                         a second process lock a new inode at the same path).
//   ledger                two ledger slots (below). Created at open, rewritten in place.
//   origin                what the records were read with (names, fields; opaque here), for
//                         `--drain`. Written by each run as origin.new, synced, renamed over.
//   segment-<16 hex>      segments, named by their first position. Created by `append`, deleted
//                         when settled, by drop-oldest, or (empty or torn header) at recovery.
//   corrupt/segment-…     segments that could not be read, moved aside at recovery or when the
//                         disk reports EIO. Kept for the operator; not counted in the limit.
//
// ## Byte layouts (little-endian)
//
//   segment header, 32 bytes:
//     0  magic "SPILLSEG"   8  version u32 = 1   12  header size u32 = 32
//     16 first position u64 24  reserved u32 = 0  28  CRC32C of bytes 0..<28
//
//   frame (follow the header back to back, no padding):
//     0  CRC32C u32 of bytes 4..<8+length (the length field and the body)
//     4  length u32 of the body
//     8  position u64
//     16 time i64, nanoseconds since the Unix epoch
//     24 flags u8: 1 stderr, 2 partial, 4 last partial, 8 drop report
//     25 partial id high u64, low u64, ordinal i32      only when flag 2 is set (20 bytes)
//     .. line bytes (the rest of the body)
//   A 100-byte line takes 125 bytes on disk (145 as a partial).
//
//   ledger, two 4096-byte slots at offsets 0 and 4096, written alternately (generation % 2),
//   both written when the file is created (a full disk never refuses an update later):
//     0  magic "SPILLLDG"   8  version u32 = 2    12 settled range count u32 (≤ 251)
//     16 generation u64     24 acknowledged u64   32 deleted u64   40 in-flight-deleted u64
//     48 appended u64 (the next position; 0 unknown)  56 newest segment's first position u64
//     64 newest segment's size u64                    72 settled ranges: count × (lower, upper) u64
//     4092 CRC32C of bytes 0..<4092
//   The valid slot with the higher generation is the state; one pwrite updates one slot, so a
//   torn write leaves the previous state readable. A version-1 ledger (64-byte slots at 0 and
//   64, fields as above up to 40, CRC32C at 48; no appended, no ranges) is read and rewritten as
//   version 2 at open: old directories are migrated, their tail count unknown until then.
//   Segment headers are unchanged (version 1). `deleted` exceeds `acknowledged` only after
//   drop-oldest deleted a segment whose records were in flight (read, not acknowledged);
//   `in-flight-deleted` counts those, which a restart reports lost.
//
// ## Writing
//
// `append` encodes as many records as fit the active segment (and the limit) into one buffer
// and writes it with one pwrite, then rolls to a new segment when the next frame would take the
// active one past `segmentSize` (a frame larger than that gets a segment of its own). A roll
// fdatasyncs the finished segment. On ENOSPC/EDQUOT the partial write is truncated away and the
// write retried with half as many records, down to one. At the limit, or when not even one
// record fits the disk, an active segment whose records are all acknowledged is rolled (and so
// deleted); failing that, `.block` returns the count stored so far and `.dropOldest` deletes the
// oldest segment, reporting the records in it that were not yet read, and continues.
//
// ## Reading and acknowledging
//
// Records appended while the reader is caught up (a healthy sink) are also kept in memory, up
// to 4 MiB (`RecentRecords`), and read from there: the same bytes, without a pread and a second
// CRC. A reader further behind, or after a restart, reads the disk: it walks segments from the
// replay position with `FrameScanner`, in 256 KiB preads; lines slice those chunks, so memory is
// the batches in flight, not the backlog. A frame that fails its checks (length, checksum,
// position) is skipped by trying each following byte offset until a frame verifies; the
// positions it jumps over are the records lost. Positions missing between segments (a segment
// moved to corrupt/ or deleted by hand) are lost the same way. Lost positions count as settled.
// Acknowledgements settle positions; when the settled prefix grows, the ledger is rewritten
// (pwrite, no fsync) and fully settled segments are deleted. After a restart the reader skips
// the ranges the ledger recorded as settled, and a batch stops before one.
// The ledger's append record is written at every sync (`sync`, `syncInBackground`, and after
// each append with `full`), so a clean exit leaves it exact.
//
// ## Recovery (at open)
//
// 1. Create the directory, check that it is safe, take the lock (or fail naming the holder's pid).
// 2. Read the ledger. Missing or damaged: replay from the oldest segment (redeliver, never lose).
//    `deleted` > `acknowledged`: the in-flight records counted there died with the previous
//    run — a loss; replay starts at `deleted`.
// 3. Check each segment header; a bad one moves the segment to corrupt/ (an empty or header-
//    torn newest segment, created just before a crash, is simply removed). The positions of a
//    newest segment moved aside or removed are gone with it: the next record takes the first.
// 4. Scan the newest segment to its last valid frame and truncate what follows: a torn tail of
//    an interrupted write. The next position follows its last valid frame. Positions from there
//    to the ledger's `appended` (less those it records as settled) are one loss, with the bytes
//    the ledger's newest segment size says are missing; a torn tail beyond `appended` is one
//    record of an interrupted write.
// 5. Delete segments the ledger shows fully settled (a crash came between ack and delete).
// Damage inside older segments is found, skipped and reported later by the reader.

import SpillwayCore
import SpillwaySystem

/// A crash-safe, checksummed, size-bounded queue of log records on disk. Not thread-safe: use it
/// from one thread or serial queue at a time.
public final class DiskBuffer: @unchecked Sendable {
    let options: DiskBufferOptions
    let directory: String
    /// The storage directory held open: every file in it is opened, renamed and removed
    /// relative to this descriptor.
    let storage: Directory
    let segmentSize: Int
    let lock: FileDescriptor
    var ledger: Ledger

    /// Segment files by first position; when `writer` is open, the last one is the active one.
    var segments: [Segment] = []
    var writer: FileDescriptor?
    var pending = WriteBuffer()
    var pendingRecords = 0
    /// Position of the next record appended.
    var writerNext: UInt64 = 0
    var settled = SettledPositions(prefix: 0)
    /// A segment file was created since the directory was last fsynced.
    var directoryDirty = false
    let background = BackgroundSync()
    /// Bytes of settled segments whose files the background queue has yet to delete.
    var removingBytes = 0
    /// A finished segment's descriptor is still open on the background queue: if drop-oldest
    /// deleted that segment since, its space comes back only once the queue closes it.
    var closingInBackground = false

    /// Segment the reader is in; its scanner is nil until the reader enters it.
    var readIndex = 0
    var scanner: FrameScanner?
    /// Position of the next record to hand out: the ones below were read, or lost.
    var scanNext: UInt64 = 0
    /// A step the scanner took that the last batch did not use (a record that did not fit).
    var stashed: FrameScanner.Step?
    /// Records the last full batch held: the next one reserves room for about as many.
    var fullBatchCount = 0
    /// Records appended while the reader was caught up, read from memory.
    var recent = RecentRecords(budget: 4 << 20)
    /// The reader took records from `recent`: its place on disk is behind `scanNext`.
    var diskLags = false
    /// Damaged bytes skipped since the last valid frame, and where.
    var damagedBytes = 0
    var damagedSegment: UInt64 = 0
    /// Segments moved aside or found missing, by first position: the reason for the gap the
    /// reader will find there.
    var damageNotes: [(first: UInt64, text: String)] = []
    var losses: [DiskLoss] = []
    /// Ranges the ledger recorded as settled out of order before this start, above the reader:
    /// skipped, not redelivered.
    var replaySkips: [Range<UInt64>] = []
    var isClosed = false

    /// What recovery did that lost nothing, for a diagnostic (e.g. a ledger rebuilt, so records
    /// may come twice).
    public internal(set) var recoveryNotes: [String] = []
    /// Bytes of segment files on disk: what `limit` bounds.
    public internal(set) var storedBytes = 0
    public var segmentCount: Int { segments.count }
    public var syncPolicy: SyncPolicy { options.sync }

    /// Opens (creating) the buffer in `options.directory`, locks it and recovers what an earlier
    /// run left.
    public init(options: DiskBufferOptions) throws(DiskBufferError) {
        self.options = options
        let directory = options.directory.count > 1 && options.directory.hasSuffix("/")
            ? String(options.directory.dropLast()) : options.directory
        self.directory = directory
        segmentSize = max(Layout.segmentHeaderSize + 1, min(options.segmentSize, options.limit / 2))
        try Self.makeDirectories(directory)
        let storage = try StorageDirectory.open(directory)
        self.storage = storage
        do throws(DiskBufferError) {
            lock = try Self.takeLock(storage)
        } catch {
            try? storage.close()
            throw error
        }
        let found: Ledger.Found
        do throws(DiskBufferError) {
            let ledgerFile = try StorageDirectory.openOwnFile(storage, Ledger.fileName)
            do { (ledger, found) = try Ledger.open(ledgerFile) } catch {
                try? ledgerFile.close()
                throw DiskBufferError.io(error)
            }
        } catch {
            try? lock.close()
            try? storage.close()
            throw error
        }
        do {
            try recover(ledger: found)
        } catch {
            close()
            throw .io(error)
        }
    }

    deinit {
        close()
        pending.deallocate()
    }

    /// Appends in order: written (write(2)) before returning, and fsynced too with `.full`.
    /// Returns how many were stored: fewer than given only with `.block` when the limit or a
    /// full disk is reached — the caller keeps the rest and retries after acknowledgements free
    /// space. With `.dropOldest` the oldest segments make room, their unread records reported.
    public func append(_ records: ArraySlice<LogRecord>) throws(DiskBufferError) -> Int {
        precondition(!isClosed, "DiskBuffer used after close()")
        var next = records.startIndex
        // On a full disk, retry with half as many records, down to one: store what still fits.
        var chunk = Int.max
        do {
            while next < records.endIndex {
                let size = Layout.frameSize(records[next])
                if writer == nil {
                    guard try makeRoom(for: Layout.segmentHeaderSize + size) else { break }
                    guard try openSegment() else {
                        if try freeSpaceBeingReleased() { continue }
                        if try dropOldestSegment(cause: .diskFull) { continue }
                        break
                    }
                } else if !activeSegmentHasRoom(for: size) {
                    try roll()
                    continue
                } else if !(try makeRoom(for: size)) {
                    break
                }
                let end = encode(records[next..<(next + min(chunk, records.endIndex - next))])
                let position = writerNext
                if try writePending() {
                    recent.add(records[next..<end], at: position, readerAt: scanNext)
                    next = end
                } else if end - next > 1 {
                    chunk = (end - next) / 2
                } else if !(try freeSpaceBeingReleased()), !(try rollSettledSegment()),
                    !(try dropOldestSegment(cause: .diskFull))
                {
                    break
                }
            }
            if options.sync == .full {
                try writer?.synchronizeData()
                try synchronizeDirectoryIfNeeded()
                try updateLedger(recordingAppends: true)
                try ledger.synchronize()
            }
        } catch {
            throw .io(error)
        }
        return next - records.startIndex
    }

    /// The next unread records, in order, within the limits (bytes counted as line bytes plus
    /// `bytesPerRecord`; the first record is taken even when it alone exceeds `maxBytes`); nil
    /// when nothing is unread. Advances the read cursor: after a restart, reading starts again
    /// at the oldest unacknowledged record. Streams from disk (or from the bounded copy of
    /// recent appends): memory stays small whatever the backlog.
    public func read(maxRecords: Int, maxBytes: Int, bytesPerRecord: Int) throws(DiskBufferError) -> DiskBatch? {
        precondition(!isClosed, "DiskBuffer used after close()")
        skipReplaySettled()
        let start = scanNext
        // A batch stops before the next range settled before the restart: its positions stay contiguous.
        let upToSettled = replaySkips.first.map { Int($0.lowerBound - scanNext) } ?? maxRecords
        var batch = BatchBuilder(
            maxRecords: min(maxRecords, upToSettled), maxBytes: maxBytes, bytesPerRecord: bytesPerRecord)
        // Lines are usually alike: room for about as many as the last full batch held; the array
        // grows past that if needed. Room for the byte limit alone (as if lines were empty) left
        // two thirds of each array unused with 100-byte lines, 5 MB over the batches in flight.
        batch.records.reserveCapacity(min(maxRecords, unreadCount, max(fullBatchCount + fullBatchCount / 8, 64)))
        do {
            try fill(&batch)
            skipReplaySettled()
            // Damage skipped on the way settles positions too.
            try release()
        } catch {
            throw .io(error)
        }
        // Full: at the record limit, or within an eighth of the byte limit (a short batch, a reader
        // that caught up, says nothing about the lines).
        if batch.isFull || batch.bytes >= maxBytes - maxBytes / 8 { fullBatchCount = batch.records.count }
        return batch.records.isEmpty ? nil : DiskBatch(records: batch.records, positions: start..<scanNext)
    }

    /// Acknowledged positions (a batch's `positions`), in any order. Storage is released over the
    /// contiguous acknowledged prefix only: the ledger advances and settled segments are deleted.
    public func acknowledge(_ positions: Range<UInt64>) throws(DiskBufferError) {
        precondition(!isClosed, "DiskBuffer used after close()")
        let upper = min(positions.upperBound, scanNext)
        guard positions.lowerBound < upper else { return }
        settled.insert(positions.lowerBound..<upper)
        do { try release() } catch { throw .io(error) }
    }

    /// Forces the active segment, new directory entries and the ledger to disk, after the
    /// background syncs queued so far.
    public func sync() throws(DiskBufferError) {
        precondition(!isClosed, "DiskBuffer used after close()")
        do {
            try finishBackgroundWork()
            if settled.prefix < writerNext { try writer?.synchronizeData() }
            try synchronizeDirectoryIfNeeded()
            try updateLedger(recordingAppends: true)
            try ledger.synchronize()
        } catch {
            throw .io(error)
        }
    }

    /// As `sync`, without waiting for the disk: the `normal` policy's periodic sync. An error
    /// of an earlier background sync is thrown here.
    public func syncInBackground() throws(DiskBufferError) {
        precondition(!isClosed, "DiskBuffer used after close()")
        do {
            try background.check()
            if let writer, settled.prefix < writerNext { try background.synchronize(writer) }
            synchronizeDirectoryInBackground()
            try updateLedger(recordingAppends: true)
            try ledger.synchronize(in: background)
        } catch {
            throw .io(error)
        }
    }

    /// Records stored and not yet handed out by `read`.
    public var unreadCount: Int { Int(writerNext - scanNext) - replaySkippedCount(in: scanNext..<writerNext) }

    /// Records stored and not yet acknowledged (unread, or read and in flight): what the next
    /// start finds, so out-of-order settled ranges count only as far as the ledger records them.
    public var unacknowledgedCount: Int {
        let recorded = settled.rangesAbovePrefix(limit: Ledger.maxSettledRanges)
        let settledAbove = recorded.reduce(0) { $0 + Int(min($1.upperBound, writerNext) - min($1.lowerBound, writerNext)) }
        return Int(writerNext - settled.prefix) - settledAbove
    }

    /// Losses since the last call.
    public func takeLosses() -> [DiskLoss] {
        defer { losses = [] }
        return losses
    }

    /// Closes the files and releases the lock, without fsync: call `sync()` first to be safe from
    /// a power loss. Nothing stored is lost; the next open replays what was not acknowledged.
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        try? finishBackgroundWork()
        leaveSegment()
        try? writer?.close()
        writer = nil
        try? ledger.fd.close()
        try? lock.close()
        try? storage.close()
    }
}

/// A segment file: its first position and its size on disk.
struct Segment {
    let first: UInt64
    var size: Int
}
