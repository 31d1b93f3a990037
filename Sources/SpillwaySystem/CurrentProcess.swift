import CSpillway
#if canImport(Glibc)
import Glibc
#endif

/// Facts about spillway's own process, and its exit.
public enum CurrentProcess {
    public static var pid: pid_t { getpid() }
    public static var effectiveUserID: UInt32 { geteuid() }

    public static func exit(_ code: Int32) -> Never { Glibc.exit(code) }

    /// How glibc's malloc serves spillway. Call before any thread starts.
    /// - One arena for all threads: glibc gives each allocating thread an arena of its own and
    ///   keeps freed memory per arena (29 MB peak RSS on the console bench instead of 22 MB).
    /// - Batch buffers (up to 1 MiB of records, their encoded message) from the heap, not mmap:
    ///   each mmap'd buffer was faulted in and zeroed page by page and unmapped at free, a third
    ///   of the CloudWatch sink's CPU. Up to 4 MiB freed at the top of the heap is kept for the
    ///   next batch rather than returned; more is trimmed, so the memory stays bounded.
    public static func configureMalloc() {
        _ = mallopt(M_ARENA_MAX, 1)
        _ = mallopt(M_MMAP_THRESHOLD, 2 << 20)
        _ = mallopt(M_TRIM_THRESHOLD, 4 << 20)
    }

    /// The environment as "NAME=value" strings.
    public static func environment() -> [String] {
        var result: [String] = []
        var cursor = environ
        while let entry = cursor.pointee {
            result.append(String(cString: entry))
            cursor += 1
        }
        return result
    }

    public static func hostname() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// CPU seconds (user, system) and peak RSS in KiB of spillway itself, without its children.
    /// The peak is /proc/self/status's VmHWM: getrusage's ru_maxrss carries the peak of the
    /// process that forked spillway across exec, so a large parent would show as spillway's.
    public static func resourceUsage() -> (user: Double, system: Double, maxRSSKiB: Int) {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1_000_000 }
        return (seconds(usage.ru_utime), seconds(usage.ru_stime), peakResidentKiB() ?? usage.ru_maxrss)
    }

    private static func peakResidentKiB() -> Int? { statusField("VmHWM:") }

    /// Current resident set size in bytes (/proc/self/status's VmRSS).
    public static func residentBytes() -> Int { (statusField("VmRSS:") ?? 0) * 1024 }

    /// Descriptors open in spillway now (entries of /proc/self/fd, less the one listing them).
    public static func openFileDescriptorCount() -> Int {
        ((try? FileSystem.contents(ofDirectory: "/proc/self/fd").count) ?? 1) - 1
    }

    /// A kB figure of /proc/self/status.
    private static func statusField(_ name: String) -> Int? {
        guard let status = try? readSmallFile("/proc/self/status", limit: 64 << 10) else { return nil }
        let text = String(decoding: status, as: UTF8.self)
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(name) }) else { return nil }
        return Int(line.dropFirst(name.count).filter(\.isNumber))
    }

    /// libseccomp's runtime version, e.g. "2.5.4".
    public static func seccompVersion() -> String {
        var major: UInt32 = 0, minor: UInt32 = 0, micro: UInt32 = 0
        spw_seccomp_version(&major, &minor, &micro)
        return "\(major).\(minor).\(micro)"
    }
}

extension CurrentProcess {
    /// The running kernel's release, e.g. "6.8.0-45-generic" (uname(2)).
    public static func kernelRelease() -> String {
        var names = utsname()
        guard (try? syscall("uname", { uname(&names) })) != nil else { return "" }
        return withUnsafeBytes(of: &names.release) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}
