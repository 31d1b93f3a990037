/// Frames encoded for the active segment, written with one pwrite per append. Grows to the
/// largest batch and keeps that capacity, so steady appends allocate nothing. Nothing is
/// allocated until the first append: a `DiskBuffer` whose init fails never reaches `deinit`.
struct WriteBuffer {
    private var base: UnsafeMutableRawPointer?
    private var capacity = 0
    private(set) var count = 0

    /// Room for `byteCount` more bytes; `commit` them once written.
    mutating func reserve(_ byteCount: Int) -> UnsafeMutableRawPointer {
        if count + byteCount > capacity {
            let grown = max(capacity * 2, count + byteCount, 1 << 16)
            let new = UnsafeMutableRawPointer.allocate(byteCount: grown, alignment: 16)
            if let base {
                new.copyMemory(from: base, byteCount: count)
                base.deallocate()
            }
            base = new
            capacity = grown
        }
        return base! + count
    }

    mutating func commit(_ byteCount: Int) { count += byteCount }

    mutating func clear() { count = 0 }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    func deallocate() { base?.deallocate() }
}
