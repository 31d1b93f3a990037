/// What the workload will run on: moby's loader evaluates `includes` / `excludes` against these.
public struct SeccompHost: Equatable, Sendable {
    /// The native architecture in libseccomp's spelling ("x86_64", "aarch64").
    public var architecture: String
    /// Capability names ("CAP_SYS_ADMIN") the workload will hold.
    public var capabilities: Set<String>
    public var kernel: KernelVersion

    public init(architecture: String = SeccompHost.nativeArchitecture, capabilities: Set<String>, kernel: KernelVersion) {
        self.architecture = architecture
        self.capabilities = capabilities
        self.kernel = kernel
    }

    /// The architecture this binary was built for, as libseccomp names it.
    public static var nativeArchitecture: String {
        #if arch(x86_64)
        return "x86_64"
        #elseif arch(arm64)
        return "aarch64"
        #elseif arch(i386)
        return "x86"
        #elseif arch(arm)
        return "arm"
        #elseif arch(powerpc64le)
        return "ppc64le"
        #elseif arch(powerpc64)
        return "ppc64"
        #elseif arch(s390x)
        return "s390x"
        #elseif arch(riscv64)
        return "riscv64"
        #else
        return "unknown"
        #endif
    }

    /// The names `includes.arches` / `excludes.arches` may use for an architecture: libseccomp's
    /// and Go's (`amd64`, `arm64`: what moby compares, `runtime.GOARCH` mapped).
    static func spellings(of architecture: String) -> Set<String> {
        let go: [String: String] = [
            "x86_64": "amd64", "aarch64": "arm64", "x86": "386", "mipsel": "mipsle", "mipsel64": "mips64le",
            "mips64n32": "mips64p32", "mipsel64n32": "mips64p32le",
        ]
        var result: Set<String> = [architecture]
        if let name = go[architecture] { result.insert(name) }
        return result
    }

    /// Capability bit numbers, as in <linux/capability.h>.
    public static let capabilityNames = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
        "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
        "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
        "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
        "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
        "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
        "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
    ]

    /// The capabilities the workload will hold after execve, from spillway's /proc/self/status:
    /// as root (effective uid 0) every capability of the bounding and inheritable sets ("CapBnd",
    /// "CapInh"), as the kernel gives root at exec; as any other user only the ambient set
    /// ("CapAmb"). Nil when a line it needs is missing.
    public static func capabilities(procStatus text: String) -> Set<String>? {
        var fields: [Substring: Substring] = [:]
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[line[..<colon]] = line[line.index(after: colon)...]
        }
        func mask(_ name: Substring) -> UInt64? {
            fields[name].flatMap { UInt64($0.filter { $0 != " " && $0 != "\t" }, radix: 16) }
        }
        // "Uid:\treal\teffective\tsaved\tfs"
        guard let uids = fields["Uid"]?.split(whereSeparator: { $0 == " " || $0 == "\t" }), uids.count >= 2 else { return nil }
        let workload: UInt64
        if uids[1] == "0" {
            guard let bounding = mask("CapBnd"), let inheritable = mask("CapInh") else { return nil }
            workload = bounding | inheritable
        } else {
            guard let ambient = mask("CapAmb") else { return nil }
            workload = ambient
        }
        var names: Set<String> = []
        for (bit, name) in capabilityNames.enumerated() where workload & (1 << UInt64(bit)) != 0 {
            names.insert(name)
        }
        return names
    }
}

/// A profile evaluated for a host: what libseccomp is asked to build.
public struct SeccompFilterPlan: Equatable, Sendable {
    public var defaultAction: SeccompAction
    /// Architectures to add besides the native one, libseccomp's names.
    public var architectures: [String]
    public var rules: [Rule]
    /// What a call through an architecture the filter does not know gets; nil: libseccomp's
    /// default, killing the thread (as runc leaves it for a workload).
    public var badArchitectureAction: SeccompAction? = nil

    public struct Rule: Equatable, Sendable {
        /// The profile entry it came from ("syscalls[3]").
        public var path: String
        public var names: [String]
        public var action: SeccompAction
        /// One libseccomp rule per element, its conditions all holding; the rules are alternatives.
        /// `[[]]`: one unconditional rule.
        public var conditionSets: [[SeccompArgument]]
    }
}

extension SeccompProfile {
    /// Expands `includes` / `excludes` and `archMap` the way moby's `profiles/seccomp` loader
    /// does, and turns `args` into libseccomp rules the way runc does: the conditions of one entry
    /// form one rule (all must hold) unless two name the same argument, when each becomes a rule
    /// of its own (any may hold). Entries whose action is the default action add nothing.
    public func evaluate(for host: SeccompHost) -> SeccompFilterPlan {
        var architectures = self.architectures
        if let mapping = archMap.first(where: { $0.architecture == host.architecture }) {
            architectures = [mapping.architecture] + mapping.subArchitectures
        }
        let spellings = SeccompHost.spellings(of: host.architecture)
        var rules: [SeccompFilterPlan.Rule] = []
        for entry in syscalls {
            let ex = entry.excludes, inc = entry.includes
            if !ex.arches.isEmpty && !spellings.isDisjoint(with: ex.arches) { continue }
            if ex.caps.contains(where: host.capabilities.contains) { continue }
            if let k = ex.minKernel, host.kernel >= k { continue }
            if !inc.arches.isEmpty && spellings.isDisjoint(with: inc.arches) { continue }
            if !inc.caps.allSatisfy(host.capabilities.contains) { continue }
            if let k = inc.minKernel, host.kernel < k { continue }
            if entry.action == defaultAction { continue }
            let indices = entry.args.map(\.index)
            let conditionSets = Set(indices).count == indices.count ? [entry.args] : entry.args.map { [$0] }
            rules.append(.init(path: entry.path, names: entry.names, action: entry.action, conditionSets: conditionSets))
        }
        return SeccompFilterPlan(defaultAction: defaultAction, architectures: architectures, rules: rules)
    }
}
