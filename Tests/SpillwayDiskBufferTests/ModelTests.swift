import Glibc
import SpillwayCore
@testable import SpillwayDiskBuffer
import SpillwaySystem
import Testing

/// What the buffer must deliver, kept the simplest way: every record by position, a read
/// cursor, and the acknowledged positions.
private struct Model {
    var records: [UInt64: LogRecord] = [:]
    var writerNext: UInt64 = 0
    var readNext: UInt64 = 0
    /// Everything below is acknowledged: what the ledger holds.
    var prefix: UInt64 = 0
    var ackedAbovePrefix: Set<UInt64> = []
    var inFlight: [Range<UInt64>] = []
    /// Position after the last record a `sync()` made durable.
    var synced: UInt64 = 0
    /// What the ledger last recorded: the end of the appends and the positions settled above the
    /// prefix (written when the prefix moves, at a sync, after an append with `full`, at open).
    var ledgerAppended: UInt64 = 0
    var ledgerAcked: Set<UInt64> = []

    mutating func acknowledge(_ range: Range<UInt64>) {
        ackedAbovePrefix.formUnion(range)
        let before = prefix
        while ackedAbovePrefix.remove(prefix) != nil {
            records[prefix] = nil
            prefix += 1
        }
        if prefix != before { ledgerWritten() }
    }

    mutating func ledgerWritten() {
        ledgerAppended = writerNext
        ledgerAcked = ackedAbovePrefix
    }

    /// Unread records: acknowledged ones above the reader (from before a restart) are skipped.
    var unread: Int { Int(writerNext - readNext) - ackedAbovePrefix.filter { $0 >= readNext }.count }

    mutating func skipAcknowledged() {
        while ackedAbovePrefix.contains(readNext) { readNext += 1 }
    }

    /// A restart: reading starts again at the oldest unacknowledged record, skipping what the
    /// ledger recorded as acknowledged above it.
    mutating func restart() {
        readNext = prefix
        ackedAbovePrefix = ledgerAcked.filter { $0 < writerNext }
        inFlight = []
        ledgerWritten()
    }
}

private struct Mismatch: Error, CustomStringConvertible {
    var description: String
}

/// Random append / read / acknowledge (in and out of order) / sync / restart / power-loss
/// sequences, run against the buffer and the model in lockstep. A failure names its seed.
@Suite struct ModelTests {
    /// Seeds per batch; DISK_MODEL_SEEDS=1000 runs a long search.
    private static let seedsPerBatch = getenv("DISK_MODEL_SEEDS").flatMap { Int(String(cString: $0)) } ?? 16

    @Test(arguments: 0..<8)
    func randomSequencesAgreeWithTheModel(batch: Int) throws {
        let seeds = Self.seedsPerBatch
        for seed in UInt64(batch * seeds)..<UInt64((batch + 1) * seeds) {
            do {
                try run(seed: seed)
            } catch {
                Issue.record("seed \(seed): \(error)")
                return
            }
        }
    }

    private static let steps = 250

    private func run(seed: UInt64) throws {
        var g = SplitMix64(seed: seed)
        let directory = TemporaryDirectory()
        let options = DiskBufferOptions(
            directory: directory.storage, limit: 1 << 30, full: .block,
            sync: Bool.random(using: &g) ? .normal : .full, segmentSize: Int.random(in: 256...4096, using: &g))
        // A small memory tail, so that reads switch between memory and disk.
        let recentBudget = Int.random(in: 0...20_000, using: &g)
        var buffer = try DiskBuffer(options: options)
        buffer.recent = RecentRecords(budget: recentBudget)
        defer { buffer.close() }
        var model = Model()
        var appended = 0

        func check(_ condition: Bool, _ step: Int, _ what: @autoclosure () -> String) throws {
            if !condition { throw Mismatch(description: "step \(step): \(what())") }
        }

        for step in 0..<Self.steps {
            switch Int.random(in: 0..<100, using: &g) {
            case 0..<35:
                let count = Int.random(in: 1...20, using: &g)
                let batch = (0..<count).map { randomRecord(appended + $0, using: &g) }
                appended += count
                let stored = try buffer.append(batch[...])
                try check(stored == count, step, "append stored \(stored) of \(count)")
                for record in batch {
                    model.records[model.writerNext] = record
                    model.writerNext += 1
                }
                if options.sync == .full {
                    model.synced = model.writerNext
                    model.ledgerWritten()
                }
            case 35..<65:
                let maxRecords = Int.random(in: 1...30, using: &g)
                let maxBytes = Int.random(in: 50...3000, using: &g)
                let perRecord = Int.random(in: 0...30, using: &g)
                var expected: [LogRecord] = []
                var bytes = 0
                model.skipAcknowledged()
                var position = model.readNext
                while expected.count < maxRecords, position < model.writerNext, !model.ackedAbovePrefix.contains(position) {
                    let record = model.records[position]!
                    let cost = record.line.count + perRecord
                    if !expected.isEmpty && bytes + cost > maxBytes { break }
                    expected.append(record)
                    bytes += cost
                    position += 1
                }
                let batch = try buffer.read(maxRecords: maxRecords, maxBytes: maxBytes, bytesPerRecord: perRecord)
                let got = batch?.records ?? []
                try check(got.count == expected.count, step, "read \(got.count) records, expected \(expected.count)")
                try check(zip(got, expected).allSatisfy(same), step, "read records differ from the model's")
                let start = model.readNext
                model.readNext = position
                model.skipAcknowledged()
                if let batch {
                    try check(batch.positions == start..<model.readNext, step, "positions \(batch.positions)")
                    model.inFlight.append(batch.positions)
                }
            case 65..<85:
                guard !model.inFlight.isEmpty else { continue }
                let range = model.inFlight.remove(at: Int.random(in: 0..<model.inFlight.count, using: &g))
                try buffer.acknowledge(range)
                model.acknowledge(range)
            case 85..<90:
                try buffer.sync()
                model.synced = model.writerNext
                model.ledgerWritten()
            case 90..<96:
                // A clean stop, as DiskStore.close: sync, then close.
                try buffer.sync()
                model.ledgerWritten()
                buffer.close()
                buffer = try DiskBuffer(options: options)
                buffer.recent = RecentRecords(budget: recentBudget)
                model.restart()
                try check(buffer.takeLosses().isEmpty, step, "losses after a clean restart")
                try check(buffer.recoveryNotes.isEmpty, step, "recovery notes \(buffer.recoveryNotes)")
            default:
                guard let (cut, torn, known) = try simulatePowerLoss(
                    &buffer, &model, options: options, recentBudget: recentBudget, using: &g) else {
                    continue
                }
                // Cut records the ledger had recorded as appended are counted exactly; a torn
                // frame beyond that is one record of an interrupted write.
                let losses = buffer.takeLosses()
                try check(
                    losses.map(\.records) == (known > 0 ? [known] : torn ? [1] : []), step,
                    "power loss cut \(cut) records (torn: \(torn), \(known) known to the ledger); losses \(losses)")
            }
            try check(
                buffer.unreadCount == model.unread, step,
                "unreadCount \(buffer.unreadCount), model \(model.unread)")
            try check(
                buffer.unacknowledgedCount == Int(model.writerNext - model.prefix) - model.ackedAbovePrefix.count,
                step, "unacknowledgedCount \(buffer.unacknowledgedCount)")
            if step % 20 == 0 {
                try buffer.finishBackgroundWork()  // deletes of settled segments run in the background
                let onDisk = try segmentFiles(directory.storage).reduce(0) { $0 + (try fileSize(directory.storage + "/" + $1)) }
                try check(buffer.storedBytes == onDisk, step, "storedBytes \(buffer.storedBytes), files \(onDisk)")
            }
        }

        // In the end everything is delivered and nothing but the active segment remains.
        let rest = try drain(buffer)
        try check(rest.count == model.unread, Self.steps, "final drain \(rest.count)")
        for batch in model.inFlight { try buffer.acknowledge(batch) }
        try check(buffer.unacknowledgedCount == 0, Self.steps, "unacknowledged at the end \(buffer.unacknowledgedCount)")
        try buffer.finishBackgroundWork()
        try check(try segmentFiles(directory.storage).count <= 1, Self.steps, "segments left after everything was acknowledged")
        try check(buffer.takeLosses().isEmpty, Self.steps, "losses at the end")
    }

    /// Closes the buffer and cuts unsynced records off the end of the newest segment, possibly
    /// mid-frame, as a power loss may; reopens. Returns how many records were cut, whether a
    /// torn frame was left behind and how many of the cut ones the ledger counted as appended
    /// (and not acknowledged), or nil when there was nothing to cut.
    private func simulatePowerLoss<G: RandomNumberGenerator>(
        _ buffer: inout DiskBuffer, _ model: inout Model, options: DiskBufferOptions, recentBudget: Int,
        using g: inout G
    ) throws -> (Int, Bool, Int)? {
        guard let newest = try segmentFiles(options.directory).last, let first = Layout.parseSegmentName(newest)
        else { return nil }
        let cuttableFrom = max(model.synced, model.prefix, first)
        guard model.writerNext > cuttableFrom else { return nil }
        let cut = Int.random(in: 1...Int(model.writerNext - cuttableFrom), using: &g)
        let cutFrom = model.writerNext - UInt64(cut)
        let cutBytes = (cutFrom..<model.writerNext).reduce(0) { $0 + Layout.frameSize(model.records[$1]!) }
        let kept = Int.random(in: 0..<Layout.frameSize(model.records[cutFrom]!), using: &g)
        buffer.close()
        let path = options.directory + "/" + newest
        try truncateFile(path, to: try fileSize(path) - cutBytes + kept)
        buffer = try DiskBuffer(options: options)
        buffer.recent = RecentRecords(budget: recentBudget)
        let known = (cutFrom..<max(cutFrom, model.ledgerAppended)).filter { !model.ledgerAcked.contains($0) }.count
        for position in cutFrom..<model.writerNext { model.records[position] = nil }
        model.writerNext = cutFrom
        model.restart()
        return (cut, kept > 0, known)
    }
}
