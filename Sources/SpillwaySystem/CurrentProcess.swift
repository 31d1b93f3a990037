import CSpillway
#if canImport(Glibc)
import Glibc
#endif

/// Facts about spillway's own process, and its exit.
public enum CurrentProcess {
    public static var pid: pid_t { getpid() }
    public static var effectiveUserID: UInt32 { geteuid() }

    public static func exit(_ code: Int32) -> Never { Glibc.exit(code) }

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
    public static func resourceUsage() -> (user: Double, system: Double, maxRSSKiB: Int) {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1_000_000 }
        return (seconds(usage.ru_utime), seconds(usage.ru_stime), usage.ru_maxrss)
    }

    /// libseccomp's runtime version, e.g. "2.5.4".
    public static func seccompVersion() -> String {
        var major: UInt32 = 0, minor: UInt32 = 0, micro: UInt32 = 0
        spw_seccomp_version(&major, &minor, &micro)
        return "\(major).\(minor).\(micro)"
    }
}
