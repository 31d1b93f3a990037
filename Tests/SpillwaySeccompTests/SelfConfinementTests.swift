import SpillwaySeccomp
import SpillwaySystem
import Testing

@Suite struct SelfConfinementTests {
    @Test func theAllowListCompilesWithEveryNameKnown() throws {
        let filter = try SeccompCompiler.compile(SelfConfinement.plan())
        #if arch(x86_64)
        #expect(filter.unknownSyscalls == [])
        #endif
        // One rule per known name, plus clone (with its condition) and clone3.
        #expect(filter.ruleCount == SelfConfinement.allowed.count - filter.unknownSyscalls.count + 2)
        #expect(filter.defaultAction == .errno(1))
    }

    @Test func namesAreListedOnce() {
        #expect(Set(SelfConfinement.allowed).count == SelfConfinement.allowed.count)
    }

    @Test func nothingThatStartsProgramsOrChangesTheSystemIsAllowed() {
        let forbidden = [
            "execve", "execveat", "fork", "vfork", "clone", "clone3", "ptrace", "mount", "umount2", "unshare",
            "setns", "bpf", "init_module", "finit_module", "kexec_load", "reboot", "chroot", "pivot_root",
            "setuid", "setgid", "capset", "process_vm_writev", "perf_event_open", "keyctl",
        ]
        #expect(Set(forbidden).intersection(SelfConfinement.allowed).isEmpty)
    }

    @Test func cloneIsAllowedOnlyForThreadsAndClone3FallsBack() throws {
        let plan = SelfConfinement.plan()
        let clone = try #require(plan.rules.first { $0.names == ["clone"] })
        #expect(clone.action == .allow)
        #expect(clone.conditionSets == [[SeccompArgument(index: 0, value: 0x10000, valueTwo: 0x10000, op: .maskedEqual)]])
        let clone3 = try #require(plan.rules.first { $0.names == ["clone3"] })
        #expect(clone3.action == .errno(38))
        #expect(plan.defaultAction == .errno(1))
    }
}
