import SpillwayCore
import SpillwaySeccomp
import SpillwaySystem
import Testing

@Suite struct BuiltInSeccompFilterTests {
    /// The built-in program is what libseccomp compiles from shim-configs/seccomp/default.json,
    /// whatever capabilities the workload holds and whatever the kernel.
    @Test func theBuiltInProgramIsTheCompiledProfile() throws {
        let builtIn = try SeccompCompiler.defaultProfileFilter(host: { Issue.record("compiled at run time"); return .init(capabilities: [], kernel: .init(major: 0, minor: 0)) })
        let hosts = [
            SeccompHost(capabilities: [], kernel: KernelVersion(major: 3, minor: 10)),
            SeccompHost(capabilities: allCapabilities, kernel: KernelVersion(major: 99, minor: 0)),
        ]
        for host in hosts {
            let compiled = try SeccompCompiler.compileDefaultProfile(for: host)
            #expect(
                builtIn.program == compiled.program && builtIn.ruleCount == compiled.ruleCount,
                """
                regenerate BuiltInPrograms.defaultProfile in Sources/SpillwaySystem/BuiltInSeccompFilters.swift:
                (\(compiled.ruleCount), "\(Hex.string(compiled.program))")
                """)
            #expect(compiled.unknownSyscalls.isEmpty && compiled.unknownArchitectures.isEmpty)
            #expect(builtIn.defaultAction == compiled.defaultAction)
        }
        #expect(builtIn.defaultAction == .allow)
    }

    @Test func theBuiltInSelfConfinementIsTheCompiledList() throws {
        let builtIn = try SeccompCompiler.selfConfinementFilter()
        let compiled = try SeccompCompiler.compile(SelfConfinement.plan())
        #expect(
            builtIn.program == compiled.program && builtIn.ruleCount == compiled.ruleCount,
            """
            regenerate BuiltInPrograms.selfConfinement in Sources/SpillwaySystem/BuiltInSeccompFilters.swift:
            (\(compiled.ruleCount), "\(Hex.string(compiled.program))")
            """)
        #expect(builtIn.defaultAction == compiled.defaultAction)
    }
}

private let allCapabilities: Set<String> = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN",
    "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
]
