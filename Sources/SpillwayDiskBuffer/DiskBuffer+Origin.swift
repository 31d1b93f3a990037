import SpillwaySystem

/// The `origin` file: what the backlog's records were read with (a `RecordOrigin`, opaque here),
/// for `--drain`, which has no workload to take a name from.
extension DiskBuffer {
    static let originName = "origin"
    static let originLimit = 64 << 10

    /// Records the origin of what this run appends: written to `origin.new`, synced, renamed
    /// over `origin`, so a reader finds the previous one or this one whole. Rename replaces a
    /// planted link instead of following it.
    public func record(origin bytes: [UInt8]) throws(DiskBufferError) {
        let staged = Self.originName + ".new"
        let fd = try StorageDirectory.openOwnFile(storage, staged)
        do throws(SystemError) {
            defer { try? fd.close() }
            try fd.truncate(to: 0)
            try bytes.withUnsafeBytes { raw in Result { () throws(SystemError) in try fd.write(raw, at: 0) } }.get()
            try fd.synchronizeData()
            try storage.rename(staged, to: Self.originName)
            try storage.synchronize()
        } catch {
            throw .io(error)
        }
    }

    /// The origin recorded in `directory`, if there is one that is a regular file of ours in a
    /// safe directory.
    public static func recordedOrigin(in directory: String) -> [UInt8]? {
        guard let storage = try? StorageDirectory.open(directory) else { return nil }
        defer { try? storage.close() }
        guard let fd = try? storage.open(originName, [.readOnly, .noFollow]) else { return nil }
        defer { try? fd.close() }
        guard let status = try? fd.status(), status.isRegularFile, status.owner == CurrentProcess.effectiveUserID
        else { return nil }
        var bytes = [UInt8](repeating: 0, count: originLimit)
        let n = bytes.withUnsafeMutableBytes { (raw) -> Int? in try? fd.read(into: raw, at: 0) }
        guard let n, n < originLimit else { return nil }
        return Array(bytes[..<n])
    }
}
