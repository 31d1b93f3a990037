/// Frames encoded for the active segment, written with one pwrite per append. Grows to the
/// largest batch and keeps that capacity, so steady appends allocate nothing.
struct WriteBuffer {
    private var base: UnsafeMutableRawPointer
    private var capacity: Int
    private(set) var count = 0

    init() {
        capacity = 1 << 16
        base = .allocate(byteCount: capacity, alignment: 16)
    }

    /// Room for `byteCount` more bytes; `commit` them once written.
    mutating func reserve(_ byteCount: Int) -> UnsafeMutableRawPointer {
        if count + byteCount > capacity {
            let grown = max(capacity * 2, count + byteCount)
            let new = UnsafeMutableRawPointer.allocate(byteCount: grown, alignment: 16)
            new.copyMemory(from: base, byteCount: count)
            base.deallocate()
            base = new
            capacity = grown
        }
        return base + count
    }

    mutating func commit(_ byteCount: Int) { count += byteCount }

    mutating func clear() { count = 0 }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    func deallocate() { base.deallocate() }
}
