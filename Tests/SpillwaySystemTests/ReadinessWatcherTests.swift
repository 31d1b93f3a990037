import Dispatch
import Testing
@testable import SpillwaySystem

#if canImport(Glibc)
import Glibc
#endif

@Suite struct ReadinessWatcherTests {
    @Test func reportsAPipeThatBecomesReadableOncePerArm() throws {
        let watcher = try ReadinessWatcher.start()
        defer { watcher.stop() }
        let pipe = try Pipe()
        defer {
            try? pipe.readEnd.close()
            try? pipe.writeEnd.close()
        }
        let readable = DispatchSemaphore(value: 0)
        let token = watcher.add(fd: pipe.readEnd, queue: DispatchQueue(label: "test.watcher")) { event in
            if case .readable = event { readable.signal() }
        }
        watcher.arm(token)
        #expect(readable.wait(timeout: .now() + .milliseconds(100)) == .timedOut)  // nothing written yet
        try [UInt8(1)].withUnsafeBytes { try pipe.writeEnd.writeAll($0) }
        #expect(readable.wait(timeout: .now() + .seconds(5)) == .success)
        // One-shot: the byte is still there, but it is reported again only after `arm`.
        #expect(readable.wait(timeout: .now() + .milliseconds(100)) == .timedOut)
        watcher.arm(token)
        #expect(readable.wait(timeout: .now() + .seconds(5)) == .success)
        watcher.remove(token)
    }

    @Test func reportsNothingAfterStopAndLaterCallsAreHarmless() throws {
        let watcher = try ReadinessWatcher.start()
        let pipe = try Pipe()
        defer {
            try? pipe.readEnd.close()
            try? pipe.writeEnd.close()
        }
        let reported = DispatchSemaphore(value: 0)
        let token = watcher.add(fd: pipe.readEnd, queue: DispatchQueue(label: "test.watcher")) { _ in
            reported.signal()
        }
        watcher.stop()
        watcher.arm(token)
        try [UInt8(1)].withUnsafeBytes { try pipe.writeEnd.writeAll($0) }
        #expect(reported.wait(timeout: .now() + .milliseconds(200)) == .timedOut)
        watcher.remove(token)
        watcher.stop()
    }

    /// poll(2) fails with EINVAL once it is given more descriptors than RLIMIT_NOFILE allows: the
    /// watcher must tell every watch, now and later, instead of retrying. In a process of its own,
    /// for the limit.
    @Test func aFailingPollIsReportedToEveryWatchOnce() async {
        await #expect(processExitsWith: .success) {
            let watcher = try ReadinessWatcher.start()
            let pipe = try Pipe()
            let failed = DispatchSemaphore(value: 0)
            let handler: @Sendable (ReadinessWatcher.Event) -> Void = { event in
                if case .failed(let error) = event, error.call == "poll", error.errno == EINVAL { failed.signal() }
            }
            let queue = DispatchQueue(label: "test.watcher")
            let token = watcher.add(fd: pipe.readEnd, queue: queue, handler: handler)
            var limit = rlimit()
            getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
            limit.rlim_cur = 1
            setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
            watcher.arm(token)  // two descriptors to poll now: the wake-up pipe and this one
            guard failed.wait(timeout: .now() + .seconds(5)) == .success else { fatalError("no failure reported") }
            _ = watcher.add(fd: pipe.readEnd, queue: queue, handler: handler)
            guard failed.wait(timeout: .now() + .seconds(5)) == .success else { fatalError("late watch not told") }
            watcher.stop()
        }
    }
}
