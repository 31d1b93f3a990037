import Glibc
import SpillwayCore
@testable import SpillwayDiskBuffer
import SpillwaySystem

/// A fresh directory for one test, removed afterwards. On /dev/shm when there is one: fsync
/// is free there, which keeps the model test fast.
final class TemporaryDirectory {
    let path: String

    init() {
        let base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp"
        var template = Array("\(base)/spillway-disk-XXXXXX".utf8CString)
        path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    }

    /// The storage directory inside (created by the buffer itself).
    var storage: String { path + "/storage" }

    deinit { removeTree(path) }
}

func removeTree(_ path: String) {
    if let names = try? FileSystem.contents(ofDirectory: path) {
        for name in names { removeTree(path + "/" + name) }
        rmdir(path)
    } else {
        unlink(path)
    }
}

func record(_ text: String, stream: LogStream = .stdout, time: Int64 = 1_000) -> LogRecord {
    LogRecord(time: Timestamp(nanoseconds: time), stream: stream, line: ArraySlice(Array(text.utf8)))
}

/// `count` records of `size` bytes whose lines name their index.
func records(_ count: Int, from first: Int = 0, size: Int = 20, stream: LogStream = .stdout) -> [LogRecord] {
    (first..<(first + count)).map { i in
        let text = "record \(i) "
        let line = String(repeating: text, count: size / text.count + 1).prefix(size)
        return record(String(line), stream: stream, time: 1_000_000 + Int64(i))
    }
}

func randomRecord<G: RandomNumberGenerator>(_ index: Int, using g: inout G) -> LogRecord {
    let length = Int.random(in: 0...300, using: &g)
    var line = [UInt8](repeating: 0, count: length)
    for i in 0..<length { line[i] = UInt8(truncatingIfNeeded: index &* 31 &+ i) }
    let partial = Bool.random(using: &g)
        ? PartialInfo(
            id: PartialID.random(using: &g), ordinal: Int32.random(in: 1...1000, using: &g),
            isLast: Bool.random(using: &g))
        : nil
    return LogRecord(
        time: Timestamp(nanoseconds: Int64.random(in: -1 << 62...1 << 62, using: &g)),
        stream: Bool.random(using: &g) ? .stdout : .stderr,
        line: line[...], partial: partial, isDropReport: Int.random(in: 0..<20, using: &g) == 0)
}

func same(_ a: LogRecord, _ b: LogRecord) -> Bool {
    a.time == b.time && a.stream == b.stream && a.line.elementsEqual(b.line) && a.partial == b.partial
        && a.isDropReport == b.isDropReport
}

func lines(_ records: [LogRecord]) -> [String] { records.map { String(decoding: $0.line, as: UTF8.self) } }

/// Reads everything unread, acknowledging as it goes.
func drain(_ buffer: DiskBuffer) throws -> [LogRecord] {
    var all: [LogRecord] = []
    while let batch = try buffer.read(maxRecords: 1000, maxBytes: 1 << 20, bytesPerRecord: 0) {
        all += batch.records
        try buffer.acknowledge(batch.positions)
    }
    return all
}

func segmentFiles(_ directory: String) throws -> [String] {
    try FileSystem.contents(ofDirectory: directory).filter { $0.hasPrefix("segment-") }.sorted()
}

func fileSize(_ path: String) throws -> Int {
    let fd = try FileDescriptor.open(path, [.readOnly])
    defer { try? fd.close() }
    return try fd.size()
}

func truncateFile(_ path: String, to size: Int) throws {
    let fd = try FileDescriptor.open(path, [.writeOnly])
    defer { try? fd.close() }
    try fd.truncate(to: size)
}

func writeFile(_ path: String, _ bytes: [UInt8], at offset: Int = 0) throws {
    let fd = try FileDescriptor.open(path, [.writeOnly, .create])
    defer { try? fd.close() }
    try bytes.withUnsafeBytes { buffer in
        Result { () throws(SystemError) in try fd.write(buffer, at: offset) }
    }.get()
}

/// Rewrites `count` bytes of a file in place.
func patchFile(_ path: String, at offset: Int, count: Int, _ transform: (inout [UInt8]) -> Void) throws {
    let fd = try FileDescriptor.open(path, [.readOnly])
    var bytes = [UInt8](repeating: 0, count: count)
    _ = try bytes.withUnsafeMutableBytes { buffer in
        Result { () throws(SystemError) in try fd.read(into: buffer, at: offset) }
    }.get()
    try fd.close()
    transform(&bytes)
    try writeFile(path, bytes, at: offset)
}

/// File offset of frame `index` in a segment holding `records` from its start.
func frameOffset(_ index: Int, in records: [LogRecord]) -> Int {
    Layout.segmentHeaderSize + records.prefix(index).reduce(0) { $0 + Layout.frameSize($1) }
}

let isRoot = getuid() == 0
