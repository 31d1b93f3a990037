import SpillwaySystem

/// The ledger file: where replay starts after a restart, and what the storage directory should
/// hold. Two slots written alternately, each checksummed and numbered by a generation; the valid
/// slot with the higher generation wins. An update is a single pwrite of one slot, so a torn
/// write leaves the other slot (the previous state) intact: atomic without a rename or an fsync
/// per acknowledgement.
struct Ledger {
    static let fileName = "ledger"
    static let magic = Array("SPILLLDG".utf8)
    static let version: UInt32 = 2
    static let slotSize = 4096
    static let rangesOffset = 72
    static let checksumOffset = slotSize - 4
    /// Out-of-order settled ranges a slot holds; those beyond are replayed after a restart.
    static let maxSettledRanges = (checksumOffset - rangesOffset) / 16

    /// What the ledger records.
    struct State: Equatable {
        /// Every position below has been acknowledged or accounted as lost: replay starts here.
        var acknowledged: UInt64 = 0
        /// Every segment holding positions below was deleted. Above `acknowledged` only when
        /// drop-oldest deleted a segment whose records were read and not yet acknowledged.
        var deleted: UInt64 = 0
        /// How many of the positions between `acknowledged` and `deleted` are such records: if
        /// spillway stops before they are acknowledged, they are lost.
        var inFlightDeleted: UInt64 = 0
        /// Every position below was appended (0: unknown, a migrated version-1 ledger): what a
        /// restart must find on disk, or count as lost.
        var appended: UInt64 = 0
        /// The newest segment when this was written, and its size then: how many bytes of it a
        /// restart must find.
        var newestFirst: UInt64 = 0
        var newestBytes: UInt64 = 0
        /// Ranges above `acknowledged` settled out of order (sorted, disjoint), at most
        /// `maxSettledRanges`: a restart does not redeliver them.
        var settledAbove: [Range<UInt64>] = []

        /// Whether replay or deletion would differ: what must be written before a segment goes.
        func differsInSettlement(from other: State) -> Bool {
            acknowledged != other.acknowledged || deleted != other.deleted || inFlightDeleted != other.inFlightDeleted
        }
    }

    enum Found: Equatable {
        case valid
        /// The file did not exist or was empty.
        case missing
        /// Neither slot verifies.
        case damaged
    }

    let fd: FileDescriptor
    private(set) var state = State()
    private var generation: UInt64 = 0
    /// Written since the last fsync.
    private var dirty = false

    /// Reads the state of the ledger file open at `fd` (which it then owns). A version-1 ledger
    /// (64-byte slots at 0 and 64, no append record) is read and migrated by the next write.
    static func open(_ fd: FileDescriptor) throws(SystemError) -> (Ledger, Found) {
        var ledger = Ledger(fd: fd)
        let found = try withUnsafeTemporaryAllocation(byteCount: 2 * slotSize, alignment: 8) {
            buffer throws(SystemError) -> Found in
            let count = try fd.read(into: buffer, at: 0)
            if count == 0 { return .missing }
            let bytes = UnsafeRawBufferPointer(rebasing: buffer[0..<count])
            guard let best = [0, slotSize].compactMap({ decode(bytes, at: $0) }).max(by: { $0.0 < $1.0 })
                ?? [0, 64].compactMap({ decodeVersion1(bytes, at: $0) }).max(by: { $0.0 < $1.0 })
            else { return .damaged }
            (ledger.generation, ledger.state) = best
            return .valid
        }
        if try fd.size() < 2 * slotSize {
            // Both slots written now, so that a full disk later never refuses a ledger update
            // (and a version-1 ledger is migrated).
            try ledger.write(ledger.state)
            try ledger.write(ledger.state)
        }
        return (ledger, found)
    }

    /// Replaces the state with one pwrite into the older slot (no fsync: see `synchronize`).
    mutating func write(_ new: State) throws(SystemError) {
        precondition(new.settledAbove.count <= Ledger.maxSettledRanges)
        state = new
        generation += 1
        let generation = generation
        try withUnsafeTemporaryAllocation(byteCount: Ledger.slotSize, alignment: 8) { buffer throws(SystemError) in
            buffer.initializeMemory(as: UInt8.self, repeating: 0)
            let p = buffer.baseAddress!
            for (i, byte) in Ledger.magic.enumerated() { p.storeBytes(of: byte, toByteOffset: i, as: UInt8.self) }
            p.storeBytes(of: Ledger.version.littleEndian, toByteOffset: 8, as: UInt32.self)
            p.storeBytes(of: UInt32(new.settledAbove.count).littleEndian, toByteOffset: 12, as: UInt32.self)
            let fields = [generation, new.acknowledged, new.deleted, new.inFlightDeleted, new.appended,
                          new.newestFirst, new.newestBytes]
            for (i, field) in fields.enumerated() {
                p.storeBytes(of: field.littleEndian, toByteOffset: 16 + 8 * i, as: UInt64.self)
            }
            for (i, range) in new.settledAbove.enumerated() {
                p.storeBytes(of: range.lowerBound.littleEndian, toByteOffset: Ledger.rangesOffset + 16 * i, as: UInt64.self)
                p.storeBytes(of: range.upperBound.littleEndian, toByteOffset: Ledger.rangesOffset + 16 * i + 8, as: UInt64.self)
            }
            let crc = CRC32C.checksum(UnsafeRawBufferPointer(start: p, count: Ledger.checksumOffset))
            p.storeBytes(of: crc.littleEndian, toByteOffset: Ledger.checksumOffset, as: UInt32.self)
            try fd.write(UnsafeRawBufferPointer(buffer), at: Int(generation % 2) * Ledger.slotSize)
        }
        dirty = true
    }

    mutating func synchronize() throws(SystemError) {
        guard dirty else { return }
        try fd.synchronizeData()
        dirty = false
    }

    /// As `synchronize`, on `background`'s queue.
    mutating func synchronize(in background: BackgroundSync) throws(SystemError) {
        guard dirty else { return }
        try background.synchronize(fd)
        dirty = false
    }

    private static func decode(_ file: UnsafeRawBufferPointer, at offset: Int) -> (generation: UInt64, state: State)? {
        guard offset + slotSize <= file.count else { return nil }
        let slot = UnsafeRawBufferPointer(rebasing: file[offset..<(offset + slotSize)])
        func field(_ at: Int) -> UInt64 { UInt64(littleEndian: slot.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }
        let count = Int(UInt32(littleEndian: slot.loadUnaligned(fromByteOffset: 12, as: UInt32.self)))
        guard slot.prefix(8).elementsEqual(magic),
            UInt32(littleEndian: slot.loadUnaligned(fromByteOffset: checksumOffset, as: UInt32.self))
                == CRC32C.checksum(UnsafeRawBufferPointer(rebasing: slot[0..<checksumOffset])),
            UInt32(littleEndian: slot.loadUnaligned(fromByteOffset: 8, as: UInt32.self)) == version,
            count <= maxSettledRanges
        else { return nil }
        var ranges: [Range<UInt64>] = []
        for i in 0..<count {
            let (lower, upper) = (field(rangesOffset + 16 * i), field(rangesOffset + 16 * i + 8))
            let floor = ranges.last?.upperBound ?? field(24)
            guard upper > lower, lower > floor else { return nil }
            ranges.append(lower..<upper)
        }
        return (field(16), State(
            acknowledged: field(24), deleted: field(32), inFlightDeleted: field(40), appended: field(48),
            newestFirst: field(56), newestBytes: field(64), settledAbove: ranges))
    }

    /// A slot of the version-1 layout: 64 bytes, the CRC32C of bytes 0..<48 at 48.
    private static func decodeVersion1(_ file: UnsafeRawBufferPointer, at offset: Int) -> (generation: UInt64, state: State)? {
        guard offset + 64 <= file.count else { return nil }
        let slot = UnsafeRawBufferPointer(rebasing: file[offset..<(offset + 64)])
        func field(_ at: Int) -> UInt64 { UInt64(littleEndian: slot.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }
        guard slot.prefix(8).elementsEqual(magic),
            UInt32(littleEndian: slot.loadUnaligned(fromByteOffset: 48, as: UInt32.self))
                == CRC32C.checksum(UnsafeRawBufferPointer(rebasing: slot[0..<48])),
            UInt32(littleEndian: slot.loadUnaligned(fromByteOffset: 8, as: UInt32.self)) == 1
        else { return nil }
        return (field(16), State(acknowledged: field(24), deleted: field(32), inFlightDeleted: field(40)))
    }
}
