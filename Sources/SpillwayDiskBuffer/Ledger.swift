import SpillwaySystem

/// The ledger file: where replay starts after a restart. Two 64-byte slots written alternately,
/// each checksummed and numbered by a generation; the valid slot with the higher generation
/// wins. An update is a single pwrite of one slot, so a torn write leaves the other slot (the
/// previous state) intact: atomic without a rename or an fsync per acknowledgement.
struct Ledger {
    static let fileName = "ledger"
    static let magic = Array("SPILLLDG".utf8)
    static let slotSize = 64

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

    /// Opens (creating) the ledger in `directory` and reads its state.
    static func open(directory: String) throws(SystemError) -> (Ledger, Found) {
        let fd = try FileDescriptor.open(directory + "/" + fileName, [.readWrite, .create])
        var ledger = Ledger(fd: fd)
        let found = try withUnsafeTemporaryAllocation(byteCount: 2 * slotSize, alignment: 8) {
            buffer throws(SystemError) -> Found in
            let count = try fd.read(into: buffer, at: 0)
            if count == 0 { return .missing }
            var best: (generation: UInt64, state: State)?
            for slot in 0..<2 where (slot + 1) * slotSize <= count {
                let bytes = UnsafeRawBufferPointer(rebasing: buffer[(slot * slotSize)..<((slot + 1) * slotSize)])
                if let decoded = decode(bytes), decoded.generation >= (best?.generation ?? 0) { best = decoded }
            }
            guard let best else { return .damaged }
            (ledger.generation, ledger.state) = best
            return .valid
        }
        return (ledger, found)
    }

    /// Replaces the state with one pwrite into the older slot (no fsync: see `synchronize`).
    mutating func write(_ new: State) throws(SystemError) {
        state = new
        generation += 1
        let generation = generation
        try withUnsafeTemporaryAllocation(byteCount: Ledger.slotSize, alignment: 8) { buffer throws(SystemError) in
            buffer.initializeMemory(as: UInt8.self, repeating: 0)
            let p = buffer.baseAddress!
            for (i, byte) in Ledger.magic.enumerated() { p.storeBytes(of: byte, toByteOffset: i, as: UInt8.self) }
            p.storeBytes(of: Layout.version.littleEndian, toByteOffset: 8, as: UInt32.self)
            p.storeBytes(of: generation.littleEndian, toByteOffset: 16, as: UInt64.self)
            p.storeBytes(of: new.acknowledged.littleEndian, toByteOffset: 24, as: UInt64.self)
            p.storeBytes(of: new.deleted.littleEndian, toByteOffset: 32, as: UInt64.self)
            p.storeBytes(of: new.inFlightDeleted.littleEndian, toByteOffset: 40, as: UInt64.self)
            let crc = CRC32C.checksum(UnsafeRawBufferPointer(start: p, count: 48))
            p.storeBytes(of: crc.littleEndian, toByteOffset: 48, as: UInt32.self)
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

    private static func decode(_ slot: UnsafeRawBufferPointer) -> (generation: UInt64, state: State)? {
        func field(_ offset: Int) -> UInt64 { UInt64(littleEndian: slot.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) }
        guard slot.prefix(8).elementsEqual(magic),
            UInt32(littleEndian: slot.loadUnaligned(fromByteOffset: 48, as: UInt32.self))
                == CRC32C.checksum(UnsafeRawBufferPointer(rebasing: slot[0..<48])),
            UInt32(littleEndian: slot.loadUnaligned(fromByteOffset: 8, as: UInt32.self)) == Layout.version
        else { return nil }
        return (field(16), State(acknowledged: field(24), deleted: field(32), inFlightDeleted: field(40)))
    }
}
