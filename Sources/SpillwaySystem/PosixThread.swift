#if canImport(Glibc)
import Glibc
#endif

/// A thread of spillway's own, for work that blocks in a system call for good (poll(2)), which
/// would otherwise hold a Dispatch worker. It inherits the creating thread's signal mask.
struct PosixThread {
    private let handle: pthread_t

    /// Starts `body` on a new thread.
    static func start(_ body: @escaping @Sendable () -> Void) throws(SystemError) -> PosixThread {
        let context = Unmanaged.passRetained(Body(body))
        var handle = pthread_t()
        do {
            try syscall(returningErrno: "pthread_create", {
                pthread_create(&handle, nil, { context in
                    let body = Unmanaged<Body>.fromOpaque(context!).takeRetainedValue()
                    body.run()
                    return nil
                }, context.toOpaque())
            })
        } catch {
            context.release()
            throw error
        }
        return PosixThread(handle: handle)
    }

    /// Waits for the thread to return. Call once, from another thread.
    func join() {
        // Fails only for a thread already joined or the calling one: a bug.
        do { try syscall(returningErrno: "pthread_join", { pthread_join(handle, nil) }) } catch {
            fatalError("\(error)")
        }
    }

    private final class Body {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }
}
