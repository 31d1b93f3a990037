import SpillwayCore

/// Spillway's own diagnostics: `spillway: …` lines on its stderr, never in the workload's streams.
public struct StandardErrorDiagnostics: Diagnostics {
    public let minimumLevel: DiagnosticLevel

    public init(minimumLevel: DiagnosticLevel) { self.minimumLevel = minimumLevel }

    public func log(_ level: DiagnosticLevel, _ message: @autoclosure () -> String) {
        guard level >= minimumLevel else { return }
        let prefix = level >= .warning ? "spillway: \(level.rawValue): " : "spillway: "
        Self.write(prefix + message())
    }

    /// One line to stderr, unconditionally (usage errors, the exit summary).
    public static func write(_ line: String) {
        var bytes = Array(line.utf8)
        bytes.append(0x0a)
        _ = try? bytes.withUnsafeBytes { try FileDescriptor.standardError.writeAll($0) }
    }
}
