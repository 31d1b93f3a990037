import CSpillway
import SpillwaySeccomp
#if canImport(Glibc)
import Glibc
#endif

/// A seccomp filter compiled by libseccomp: the BPF program (`struct sock_filter` array) that
/// `Spawner.spawn` hands to the child, and what was left out of it.
public struct CompiledSeccompFilter: Sendable {
    public let program: [UInt8]
    /// libseccomp rules added (one per syscall name and condition set).
    public let ruleCount: Int
    public let defaultAction: SeccompAction
    /// Syscall names this libseccomp does not know, in profile order, once each: skipped.
    public let unknownSyscalls: [String]
    /// Architectures this libseccomp does not know: skipped.
    public let unknownArchitectures: [String]

    public var instructionCount: Int { program.count / 8 }
}

public enum SeccompCompiler {
    /// The kernel refuses longer programs (BPF_MAXINSNS).
    static let maxInstructions = 4096

    /// Builds the filter with libseccomp in spillway's own process (nothing is loaded here) and
    /// exports it as BPF through a memfd. A rule libseccomp refuses is an error naming its entry.
    public static func compile(_ plan: SeccompFilterPlan) throws(SeccompProfileError) -> CompiledSeccompFilter {
        guard let context = seccomp_init(actionValue(plan.defaultAction)) else {
            throw SeccompProfileError(path: "defaultAction", "libseccomp refused \(plan.defaultAction)")
        }
        defer { seccomp_release(context) }
        if let action = plan.badArchitectureAction {
            let rc = seccomp_attr_set(context, SCMP_FLTATR_ACT_BADARCH, actionValue(action))
            if rc != 0 { throw SeccompProfileError(path: "", "libseccomp refused the bad-architecture action: \(describe(-rc))") }
        }

        var unknownArchitectures: [String] = []
        for name in plan.architectures {
            let token = seccomp_arch_resolve_name(name)
            if token == 0 {
                if !unknownArchitectures.contains(name) { unknownArchitectures.append(name) }
                continue
            }
            let rc = seccomp_arch_add(context, token)
            if rc != 0 && rc != -EEXIST {
                throw SeccompProfileError(path: "architectures", "libseccomp cannot add \(name): \(describe(-rc))")
            }
        }

        var unknownSyscalls: [String] = []
        var ruleCount = 0
        for rule in plan.rules {
            let action = actionValue(rule.action)
            for name in rule.names {
                let number = seccomp_syscall_resolve_name(name)
                if number == __NR_SCMP_ERROR {
                    if !unknownSyscalls.contains(name) { unknownSyscalls.append(name) }
                    continue
                }
                for conditions in rule.conditionSets {
                    let comparisons = conditions.map {
                        scmp_arg_cmp(arg: $0.index, op: comparison($0.op), datum_a: $0.value, datum_b: $0.valueTwo)
                    }
                    let rc = comparisons.withUnsafeBufferPointer {
                        seccomp_rule_add_array(context, action, number, UInt32($0.count), $0.baseAddress)
                    }
                    if rc != 0 {
                        throw SeccompProfileError(
                            path: rule.path, "libseccomp refused the rule for \(name) (\(rule.action)): \(describe(-rc))")
                    }
                    ruleCount += 1
                }
            }
        }

        let program: [UInt8]
        do {
            program = try export(context)
        } catch {
            throw SeccompProfileError(path: "", "cannot export the filter: \(error)")
        }
        if program.count / 8 > maxInstructions {
            throw SeccompProfileError(
                path: "", "the filter has \(program.count / 8) BPF instructions; the kernel takes at most \(maxInstructions)")
        }
        return CompiledSeccompFilter(
            program: program, ruleCount: ruleCount, defaultAction: plan.defaultAction,
            unknownSyscalls: unknownSyscalls, unknownArchitectures: unknownArchitectures)
    }

    /// Confines this process, all its threads, with `filter` (and no_new_privs): what spillway
    /// itself may call from here on. New threads inherit it.
    public static func confineThisProcess(with filter: CompiledSeccompFilter) throws(SystemError) {
        let rc = try filter.program.withUnsafeBytes { (bytes) -> Result<Int, SystemError> in
            Result { () throws(SystemError) in
                try syscall("seccomp", { spw_seccomp_install(bytes.baseAddress, UInt16(filter.instructionCount), 1) })
            }
        }.get()
        if rc > 0 {
            // TSYNC names a thread that already runs under a filter this one does not extend.
            throw .failure(of: "seccomp(TSYNC) for thread \(rc)", errno: ESRCH)
        }
    }

    /// libseccomp 2.5.4 exports only to a descriptor: a memfd, read back whole.
    private static func export(_ context: scmp_filter_ctx) throws(SystemError) -> [UInt8] {
        let fd = FileDescriptor(rawValue: try syscall("memfd_create", { spw_memfd_cloexec("spillway-seccomp") }))
        defer { try? fd.close() }
        try syscall(returningErrno: "seccomp_export_bpf", { -seccomp_export_bpf(context, fd.rawValue) })
        let size = try syscall("lseek", { lseek(fd.rawValue, 0, SEEK_END) })
        var program = [UInt8](repeating: 0, count: Int(size))
        let n = try program.withUnsafeMutableBytes { (buffer) -> Result<Int, SystemError> in
            Result { () throws(SystemError) in try fd.read(into: buffer, at: 0) }
        }.get()
        return Array(program[..<n])
    }

    static func actionValue(_ action: SeccompAction) -> UInt32 {
        switch action {
        case .allow: return SCMP_ACT_ALLOW
        case .errno(let e): return 0x0005_0000 | UInt32(e)  // SCMP_ACT_ERRNO(e), a macro Swift cannot import
        case .killThread: return SCMP_ACT_KILL_THREAD
        case .killProcess: return SCMP_ACT_KILL_PROCESS
        case .trap: return SCMP_ACT_TRAP
        case .trace(let e): return 0x7ff0_0000 | UInt32(e)  // SCMP_ACT_TRACE(e)
        case .log: return SCMP_ACT_LOG
        }
    }

    static func comparison(_ op: SeccompArgument.Comparison) -> scmp_compare {
        switch op {
        case .notEqual: return SCMP_CMP_NE
        case .lessThan: return SCMP_CMP_LT
        case .lessOrEqual: return SCMP_CMP_LE
        case .equal: return SCMP_CMP_EQ
        case .greaterOrEqual: return SCMP_CMP_GE
        case .greaterThan: return SCMP_CMP_GT
        case .maskedEqual: return SCMP_CMP_MASKED_EQ
        }
    }

    private static func describe(_ errno: Int32) -> String { "\(String(cString: strerror(errno))) (errno \(errno))" }
}
