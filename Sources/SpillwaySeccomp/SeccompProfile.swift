import SpillwayCore

/// A Docker / OCI seccomp profile as written (`docker run --security-opt seccomp=FILE`, a
/// Kubernetes `localhostProfile`), before its `includes` / `excludes` are evaluated.
///
/// Parsing is strict where a lenient reader would widen the filter without a word: an unknown
/// field (a misspelt `args` would drop a condition), a wrong type, an action spillway cannot
/// carry out. Each fault is one `SeccompProfileError` naming its JSON path.
public struct SeccompProfile: Equatable, Sendable {
    public var defaultAction: SeccompAction
    /// `architectures`: libseccomp names ("x86_64"), from `SCMP_ARCH_X86_64`.
    public var architectures: [String]
    public var archMap: [ArchitectureMapping]
    public var syscalls: [SyscallEntry]

    public struct ArchitectureMapping: Equatable, Sendable {
        public var architecture: String
        public var subArchitectures: [String]

        public init(architecture: String, subArchitectures: [String]) {
            self.architecture = architecture
            self.subArchitectures = subArchitectures
        }
    }

    /// `includes` or `excludes` of one syscalls entry.
    public struct Filter: Equatable, Sendable {
        public var arches: [String] = []
        public var caps: [String] = []
        public var minKernel: KernelVersion?
    }

    public struct SyscallEntry: Equatable, Sendable {
        /// "syscalls[3]", for errors found later (libseccomp refusing a rule).
        public var path: String
        public var names: [String]
        public var action: SeccompAction
        public var args: [SeccompArgument]
        public var includes: Filter
        public var excludes: Filter
    }
}

/// What a rule (or the default) does to a matching call.
public enum SeccompAction: Equatable, Sendable, CustomStringConvertible {
    case allow
    case errno(UInt16)
    case killThread
    case killProcess
    case trap
    case trace(UInt16)
    case log

    public var description: String {
        switch self {
        case .allow: return "SCMP_ACT_ALLOW"
        case .errno(let e): return "SCMP_ACT_ERRNO(\(e))"
        case .killThread: return "SCMP_ACT_KILL_THREAD"
        case .killProcess: return "SCMP_ACT_KILL_PROCESS"
        case .trap: return "SCMP_ACT_TRAP"
        case .trace(let e): return "SCMP_ACT_TRACE(\(e))"
        case .log: return "SCMP_ACT_LOG"
        }
    }
}

/// One `args[]` condition: `op` compares syscall argument `index` with `value` (for
/// `SCMP_CMP_MASKED_EQ`: `(arg & value) == valueTwo`).
public struct SeccompArgument: Equatable, Sendable {
    public enum Comparison: String, Sendable, CaseIterable {
        case notEqual = "SCMP_CMP_NE"
        case lessThan = "SCMP_CMP_LT"
        case lessOrEqual = "SCMP_CMP_LE"
        case equal = "SCMP_CMP_EQ"
        case greaterOrEqual = "SCMP_CMP_GE"
        case greaterThan = "SCMP_CMP_GT"
        case maskedEqual = "SCMP_CMP_MASKED_EQ"
    }

    public var index: UInt32
    public var value: UInt64
    public var valueTwo: UInt64
    public var op: Comparison

    public init(index: UInt32, value: UInt64, valueTwo: UInt64 = 0, op: Comparison) {
        self.index = index
        self.value = value
        self.valueTwo = valueTwo
        self.op = op
    }
}

/// A kernel version as `minKernel` and uname(2) write it: "4.8", "5.15.0-91-generic".
public struct KernelVersion: Comparable, Sendable, CustomStringConvertible {
    public var major: Int
    public var minor: Int
    public var patch: Int

    public init(major: Int, minor: Int, patch: Int = 0) {
        self.major = major
        self.minor = minor
        self.patch = patch
    }

    /// `minKernel`: "MAJOR.MINOR" or "MAJOR.MINOR.PATCH", digits only.
    public init?(minKernel text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        let numbers = parts.compactMap { part in
            part.utf8.allSatisfy { (0x30...0x39).contains($0) } ? Int(part) : nil
        }
        guard (2...3).contains(parts.count), numbers.count == parts.count else { return nil }
        self.init(major: numbers[0], minor: numbers[1], patch: numbers.count > 2 ? numbers[2] : 0)
    }

    /// A uname(2) release: the leading numbers, whatever follows them ("6.8.0-45-generic").
    public init?(release text: String) {
        var numbers: [Int] = []
        var current: Int?
        for byte in text.utf8 {
            if (0x30...0x39).contains(byte) {
                current = (current ?? 0) * 10 + Int(byte - 0x30)
                if current! > 1_000_000 { return nil }
            } else {
                guard let c = current else { break }
                numbers.append(c)
                current = nil
                if byte != UInt8(ascii: ".") || numbers.count == 3 { break }
            }
        }
        if let current, numbers.count < 3 { numbers.append(current) }
        guard numbers.count >= 2 else { return nil }
        self.init(major: numbers[0], minor: numbers[1], patch: numbers.count > 2 ? numbers[2] : 0)
    }

    public static func < (a: KernelVersion, b: KernelVersion) -> Bool {
        (a.major, a.minor, a.patch) < (b.major, b.minor, b.patch)
    }

    public var description: String { "\(major).\(minor).\(patch)" }
}

/// A fault in a profile: where (`syscalls[3].args[0].op`; empty for the document itself) and what.
public struct SeccompProfileError: Error, Equatable, CustomStringConvertible {
    public var path: String
    public var message: String

    public init(path: String, _ message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { path.isEmpty ? message : "\(path): \(message)" }
}
