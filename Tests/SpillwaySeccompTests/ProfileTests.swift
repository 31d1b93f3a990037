import SpillwaySeccomp
import SpillwaySystem
import Testing

private func parse(_ text: String) throws(SeccompProfileError) -> SeccompProfile {
    try SeccompProfile.parse(Array(text.utf8))
}

private func fault(_ text: String) -> SeccompProfileError? {
    do {
        _ = try parse(text)
        return nil
    } catch {
        return error
    }
}

private let host = SeccompHost(architecture: "x86_64", capabilities: ["CAP_CHOWN"], kernel: KernelVersion(major: 5, minor: 10))

@Suite struct ParseTests {
    @Test func fullDockerShape() throws {
        let p = try parse(#"""
            {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38, "comment": "x",
             "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]}],
             "syscalls": [
               {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW", "comment": "io"},
               {"name": "personality", "action": "SCMP_ACT_ALLOW",
                "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
               {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
                "includes": {"caps": ["CAP_SYS_ADMIN"], "arches": ["amd64"], "minKernel": "4.8"},
                "excludes": {}}
             ]}
            """#)
        #expect(p.defaultAction == .errno(38))
        #expect(p.archMap == [.init(architecture: "x86_64", subArchitectures: ["x86", "x32"])])
        #expect(p.syscalls.map(\.names) == [["read", "write"], ["personality"], ["mkdir"]])
        #expect(p.syscalls[1].args == [SeccompArgument(index: 0, value: 8, op: .equal)])
        #expect(p.syscalls[2].action == .errno(13))
        #expect(p.syscalls[2].includes.minKernel == KernelVersion(major: 4, minor: 8))
    }

    @Test func errnoDefaultsToEPERM() throws {
        let p = try parse(#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ERRNO"}]}"#)
        #expect(p.syscalls[0].action == .errno(1))
    }

    /// containers-common profiles (podman, CRI-O) name the errno beside the number.
    @Test func errnoNamesAsContainersCommonWritesThem() throws {
        let p = try parse(#"""
            {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrno": "ENOSYS", "defaultErrnoRet": 38, "syscalls": [
              {"names": ["a"], "action": "SCMP_ACT_ERRNO", "errno": "EINVAL"},
              {"names": ["b"], "action": "SCMP_ACT_ERRNO", "errno": "EPERM", "errnoRet": 1}]}
            """#)
        #expect(p.defaultAction == .errno(38))
        #expect(p.syscalls.map(\.action) == [.errno(22), .errno(1)])
        let disagreeing = #"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ERRNO", "errno": "EPERM", "errnoRet": 38}]}"#
        #expect(fault(disagreeing)?.path == "syscalls[0].errno")
        #expect(fault(#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrno": "EWHAT"}"#)?.path == "defaultErrno")
    }

    @Test func everyActionName() throws {
        let actions: [(String, SeccompAction)] = [
            ("SCMP_ACT_ALLOW", .allow), ("SCMP_ACT_KILL", .killThread), ("SCMP_ACT_KILL_THREAD", .killThread),
            ("SCMP_ACT_KILL_PROCESS", .killProcess), ("SCMP_ACT_TRAP", .trap), ("SCMP_ACT_TRACE", .trace(1)),
            ("SCMP_ACT_LOG", .log), ("SCMP_ACT_ERRNO", .errno(1)),
        ]
        for (name, action) in actions {
            #expect(try parse(#"{"defaultAction": "\#(name)"}"#).defaultAction == action)
        }
    }

    @Test(arguments: [
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ALLOW"}, {"names": ["b"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 1, "op": "SCMP_CMP_SAME"}]}]}"#,
         "syscalls[1].args[1].op"),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["b"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}"#,
         "syscalls[0].args[0].index"),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["b"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": -1, "op": "SCMP_CMP_EQ"}]}]}"#,
         "syscalls[0].args[0].value"),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["b"], "action": "SCMP_ACT_ERRNO", "args": [{"value": 1, "op": "SCMP_CMP_EQ"}]}]}"#,
         "syscalls[0].args[0].index"),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["b"], "action": "SCMP_ACT_ERRNO", "arg": []}]}"#,
         "syscalls[0].arg"),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["b"], "action": "SCMP_ACT_NOTIFY"}]}"#,
         "syscalls[0].action"),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["b"], "action": "SCMP_ACT_ALOW"}]}"#,
         "syscalls[0].action"),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["b"]}]}"#, "syscalls[0].action"),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"action": "SCMP_ACT_LOG"}]}"#, "syscalls[0].names"),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": "read", "action": "SCMP_ACT_LOG"}]}"#, "syscalls[0].names"),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read", 3], "action": "SCMP_ACT_LOG"}]}"#, "syscalls[0].names[1]"),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"name": "a", "names": ["b"], "action": "SCMP_ACT_LOG"}]}"#, "syscalls[0].name"),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["b"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5000}]}"#, "syscalls[0].errnoRet"),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["b"], "action": "SCMP_ACT_ALLOW", "errnoRet": 1}]}"#, "syscalls[0].errnoRet"),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["b"], "action": "SCMP_ACT_LOG", "includes": {"minKernel": "four"}}]}"#, "syscalls[0].includes.minKernel"),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["b"], "action": "SCMP_ACT_LOG", "excludes": {"caps": "CAP_SYS_ADMIN"}}]}"#, "syscalls[0].excludes.caps"),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["b"], "action": "SCMP_ACT_LOG", "excludes": {"kernel": "4.8"}}]}"#, "syscalls[0].excludes.kernel"),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": {}}"#, "syscalls"),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [7]}"#, "syscalls[0]"),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["x86_64"]}"#, "architectures[0]"),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"], "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}"#, "archMap"),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["i386"]}]}"#, "archMap[0].subArchitectures[0]"),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "archMap": [{"subArchitectures": []}]}"#, "archMap[0].architecture"),
        (#"{"defaultAction": 3}"#, "defaultAction"),
        (#"{"syscalls": []}"#, "defaultAction"),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 1}"#, "defaultErrnoRet"),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/agent.sock"}"#, "listenerPath"),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_LOG"]}"#, "flags"),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "defaultActon": "SCMP_ACT_ALLOW"}"#, "defaultActon"),
    ])
    func malformedNamesItsPath(text: String, path: String) {
        let error = fault(text)
        #expect(error?.path == path, "\(String(describing: error))")
        #expect(error?.description.hasPrefix(path + ": ") == true)
    }

    @Test func notJSON() {
        #expect(fault("{\"defaultAction\": ")?.message.contains("not valid JSON") == true)
        #expect(fault("[]")?.path == "(document)")
    }

    @Test func kernelVersions() {
        #expect(KernelVersion(release: "6.8.0-45-generic") == KernelVersion(major: 6, minor: 8, patch: 0))
        #expect(KernelVersion(release: "5.15.153.1-microsoft-standard-WSL2") == KernelVersion(major: 5, minor: 15, patch: 153))
        #expect(KernelVersion(release: "6.18") == KernelVersion(major: 6, minor: 18))
        #expect(KernelVersion(release: "junk") == nil)
        #expect(KernelVersion(minKernel: "4.8") == KernelVersion(major: 4, minor: 8))
        #expect(KernelVersion(minKernel: "4.8.1") == KernelVersion(major: 4, minor: 8, patch: 1))
        #expect(KernelVersion(minKernel: "4") == nil)
        #expect(KernelVersion(minKernel: "4.x") == nil)
        #expect(KernelVersion(minKernel: "4.8-rc1") == nil)
    }

    /// What the workload holds after execve: root gets the bounding and inheritable sets whatever
    /// spillway's effective set is; another user only the ambient set.
    @Test func capabilitiesFromProcStatus() {
        let status = { (uid: String) in
            "Name:\tx\nUid:\t\(uid)\t\(uid)\t\(uid)\t\(uid)\nCapInh:\t0000000000000400\nCapEff:\t0000000000000000\n"
                + "CapBnd:\t0000000000200001\nCapAmb:\t0000000000000002\n"
        }
        #expect(SeccompHost.capabilities(procStatus: status("0")) == ["CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_NET_BIND_SERVICE"])
        #expect(SeccompHost.capabilities(procStatus: status("1000")) == ["CAP_DAC_OVERRIDE"])
        #expect(SeccompHost.capabilities(procStatus: "Name: x\n") == nil)
    }
}

@Suite struct EvaluateTests {
    private func plan(_ syscalls: String, host: SeccompHost = host, extra: String = "") throws -> SeccompFilterPlan {
        try parse(#"{"defaultAction": "SCMP_ACT_ALLOW", \#(extra) "syscalls": [\#(syscalls)]}"#).evaluate(for: host)
    }

    private func names(_ syscalls: String, host: SeccompHost = host) throws -> [String] {
        try plan(syscalls, host: host).rules.flatMap(\.names)
    }

    @Test func capabilities() throws {
        let entries = #"""
            {"names": ["needsAdmin"], "action": "SCMP_ACT_ERRNO", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
            {"names": ["needsChown"], "action": "SCMP_ACT_ERRNO", "includes": {"caps": ["CAP_CHOWN"]}},
            {"names": ["needsBoth"], "action": "SCMP_ACT_ERRNO", "includes": {"caps": ["CAP_CHOWN", "CAP_SYS_ADMIN"]}},
            {"names": ["unlessAdmin"], "action": "SCMP_ACT_ERRNO", "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
            {"names": ["unlessChown"], "action": "SCMP_ACT_ERRNO", "excludes": {"caps": ["CAP_SYS_ADMIN", "CAP_CHOWN"]}}
            """#
        #expect(try names(entries) == ["needsChown", "unlessAdmin"])
        var admin = host
        admin.capabilities = ["CAP_CHOWN", "CAP_SYS_ADMIN"]
        #expect(try names(entries, host: admin) == ["needsAdmin", "needsChown", "needsBoth"])
    }

    @Test func architectures() throws {
        let entries = #"""
            {"names": ["goName"], "action": "SCMP_ACT_ERRNO", "includes": {"arches": ["amd64", "x32"]}},
            {"names": ["seccompName"], "action": "SCMP_ACT_ERRNO", "includes": {"arches": ["x86_64"]}},
            {"names": ["arm"], "action": "SCMP_ACT_ERRNO", "includes": {"arches": ["arm", "arm64"]}},
            {"names": ["notS390"], "action": "SCMP_ACT_ERRNO", "excludes": {"arches": ["s390", "s390x"]}},
            {"names": ["notAmd64"], "action": "SCMP_ACT_ERRNO", "excludes": {"arches": ["amd64"]}}
            """#
        #expect(try names(entries) == ["goName", "seccompName", "notS390"])
        var arm = host
        arm.architecture = "aarch64"
        #expect(try names(entries, host: arm) == ["arm", "notS390", "notAmd64"])
    }

    @Test func minKernel() throws {
        let entries = #"""
            {"names": ["from4.8"], "action": "SCMP_ACT_ERRNO", "includes": {"minKernel": "4.8"}},
            {"names": ["from5.10"], "action": "SCMP_ACT_ERRNO", "includes": {"minKernel": "5.10"}},
            {"names": ["from5.11"], "action": "SCMP_ACT_ERRNO", "includes": {"minKernel": "5.11"}},
            {"names": ["before5.10"], "action": "SCMP_ACT_ERRNO", "excludes": {"minKernel": "5.10"}},
            {"names": ["before6.1"], "action": "SCMP_ACT_ERRNO", "excludes": {"minKernel": "6.1"}}
            """#
        #expect(try names(entries) == ["from4.8", "from5.10", "before6.1"])
    }

    @Test func archMapPicksTheNativeEntry() throws {
        let p = try plan("", extra: #"""
            "archMap": [{"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
                        {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]}],
            """#)
        #expect(p.architectures == ["x86_64", "x86", "x32"])
        let listed = try plan("", extra: #""architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],"#)
        #expect(listed.architectures == ["x86_64", "x86"])
    }

    @Test func argumentsBecomeRulesAsRuncMakesThem() throws {
        let p = try plan(#"""
            {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 3, "valueTwo": 1, "op": "SCMP_CMP_MASKED_EQ"}]},
            {"names": ["clone"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 4, "valueTwo": 4, "op": "SCMP_CMP_MASKED_EQ"}, {"index": 0, "value": 8, "valueTwo": 8, "op": "SCMP_CMP_MASKED_EQ"}]},
            {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}
            """#)
        #expect(p.rules.map(\.path) == ["syscalls[0]", "syscalls[1]", "syscalls[3]"])  // ALLOW is the default
        #expect(p.rules[0].conditionSets == [[SeccompArgument(index: 0, value: 2, op: .equal),
                                              SeccompArgument(index: 1, value: 3, valueTwo: 1, op: .maskedEqual)]])
        #expect(p.rules[1].conditionSets.count == 2)
        #expect(p.rules[2].conditionSets == [[]])
        #expect(p.rules[2].action == .errno(38))
    }
}

@Suite struct CompileTests {
    @Test func compilesAndReportsUnknownNamesOnce() throws {
        let p = try parse(#"""
            {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_NOSUCH"], "syscalls": [
              {"names": ["mkdir", "no_such_call", "chmod"], "action": "SCMP_ACT_ERRNO"},
              {"names": ["no_such_call", "other_fake"], "action": "SCMP_ACT_KILL_PROCESS"},
              {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}
            ]}
            """#)
        let filter = try SeccompCompiler.compile(p.evaluate(for: host))
        #expect(filter.unknownSyscalls == ["no_such_call", "other_fake"])
        #expect(filter.unknownArchitectures == ["nosuch"])
        #expect(filter.ruleCount == 3)
        #expect(filter.program.count % 8 == 0 && filter.instructionCount > 4)
    }

    @Test(arguments: SeccompArgument.Comparison.allCases)
    func everyComparisonCompiles(op: SeccompArgument.Comparison) throws {
        let p = try parse(#"""
            {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ERRNO",
              "args": [{"index": 0, "value": 8, "valueTwo": 8, "op": "\#(op.rawValue)"}]}]}
            """#)
        #expect(p.syscalls[0].args == [SeccompArgument(index: 0, value: 8, valueTwo: 8, op: op)])
        let filter = try SeccompCompiler.compile(p.evaluate(for: host))
        #expect(filter.ruleCount == 1 && filter.instructionCount > 4)
    }

    @Test func defaultProfileCompilesWithEveryNameKnown() throws {
        let p = try SeccompProfile.parse(Array(SeccompProfile.defaultProfileText.utf8))
        #expect(p.defaultAction == .allow)
        let filter = try SeccompCompiler.compile(p.evaluate(for: host))
        #expect(filter.unknownSyscalls == [])
        #expect(filter.unknownArchitectures == [])
        #expect(filter.ruleCount > 60)
    }
}

@Suite struct DefaultProfileTests {
    /// The built-in text is shim-configs/seccomp/default.json, byte for byte.
    @Test func builtInMatchesTheShippedFile() throws {
        let root = String(#filePath.split(separator: "/Tests/", maxSplits: 1)[0])
        let file = try readSmallFile(root + "/shim-configs/seccomp/default.json")
        #expect(SeccompProfile.defaultProfileText + "\n" == String(decoding: file, as: UTF8.self),
                "regenerate Sources/SpillwaySeccomp/DefaultProfile.swift from shim-configs/seccomp/default.json")
    }
}
