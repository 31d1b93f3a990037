import Testing
@testable import SpillwaySystem

#if canImport(Glibc)
import Glibc
#endif

/// What the wrapper throws and what it traps on.
@Suite struct SyscallErrorTests {
    @Test func ordinaryFailuresAreThrownNamingTheCall() {
        #expect(throws: SystemError(call: "rename(/nonexistent/a, /nonexistent/b)", errno: ENOENT)) {
            try FileSystem.rename("/nonexistent/a", to: "/nonexistent/b")
        }
        #expect(throws: SystemError(call: "write(full)", errno: EAGAIN)) {
            try syscall("write(full)", { () -> Int in Glibc.errno = EAGAIN; return -1 })
        }
    }

    @Test func callsThatReturnTheirErrorNumberAreCheckedByIt() throws {
        Glibc.errno = 0
        #expect(throws: SystemError(call: "pthread_example", errno: EAGAIN)) {
            try syscall(returningErrno: "pthread_example", { EAGAIN })
        }
        try syscall(returningErrno: "pthread_example", { 0 })
    }

    @Test func closingADescriptorTwiceTrapsNamingTheCall() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let pipe = try Pipe()
            try pipe.readEnd.close()
            try pipe.readEnd.close()
        }
        let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(message.contains("close: Bad file descriptor"))
    }

    @Test func aBadPointerTrapsNamingTheCall() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let pipe = try Pipe()
            try [UInt8(1)].withUnsafeBytes { try pipe.writeEnd.writeAll($0) }
            _ = try pipe.readEnd.read(into: UnsafeMutableRawBufferPointer(start: UnsafeMutableRawPointer(bitPattern: 8), count: 1))
        }
        let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(message.contains("read: Bad address"))
    }
}
