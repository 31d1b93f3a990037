import Dispatch
import NIOCore
import NIOPosix
import SpillwayCore

/// What a network sink's client offers its host: it lives on one event loop, sends one batch per
/// call and reports once, and closes its connections on `shutdown`.
public protocol EventLoopSinkClient: AnyObject, Sendable {
    var loop: any EventLoop { get }
    /// Called on `loop`.
    func send(_ batch: Batch, completion: @escaping @Sendable (SendOutcome) -> Void)
    /// Called on `loop`.
    func shutdown() -> EventLoopFuture<Void>
    /// Called on `loop`: whether the destination takes a connection again (`Sink.probe`).
    func probe(completion: @escaping @Sendable (Bool) -> Void)
    /// `Sink.resentBatches`; read from any thread.
    var resentBatches: Int { get }
}

extension EventLoopSinkClient {
    /// A client without a cheap probe never cuts a backoff short.
    public func probe(completion: @escaping @Sendable (Bool) -> Void) { completion(false) }
    public var resentBatches: Int { 0 }
}

/// A network sink: its client on an event loop group of its own. Hops `send` onto the loop,
/// refuses sends after shutdown (the loop is gone then), and shuts down the client before the
/// group. Each network sink is this class with its client (`ForwardSink`, `CloudWatchSink`).
public final class EventLoopSink<Client: EventLoopSinkClient>: Sink, Sendable {
    public let batchLimits: BatchLimits
    public let maxInFlight: Int
    public let client: Client
    private let group: MultiThreadedEventLoopGroup
    private let name: String
    private let stopped = SetOnce()

    /// `client` must run on one of `group`'s loops; the sink owns the group from now on.
    public init(
        client: Client, group: MultiThreadedEventLoopGroup, name: String, batchLimits: BatchLimits, maxInFlight: Int
    ) {
        self.client = client
        self.group = group
        self.name = name
        self.batchLimits = batchLimits
        self.maxInFlight = maxInFlight
    }

    public func send(_ batch: Batch, completion: @escaping @Sendable (SendOutcome) -> Void) {
        guard !stopped.isSet else {
            completion(.retryable(reason: "\(name) sink is shut down"))
            return
        }
        let client = self.client
        client.loop.execute { client.send(batch, completion: completion) }
    }

    public func probe(completion: @escaping @Sendable (Bool) -> Void) {
        guard !stopped.isSet else { return completion(false) }
        let client = self.client
        client.loop.execute { client.probe(completion: completion) }
    }

    public var resentBatches: Int { client.resentBatches }

    public func shutdown(completion: @escaping @Sendable () -> Void) {
        guard stopped.set() else {
            completion()
            return
        }
        let (client, group) = (self.client, self.group)
        client.loop.execute {
            client.shutdown().whenComplete { _ in
                // A group cannot be shut down from one of its own threads.
                DispatchQueue.global().async {
                    group.shutdownGracefully { _ in completion() }
                }
            }
        }
    }
}

/// A flag set once, from any thread.
final class SetOnce: @unchecked Sendable {
    private let queue = DispatchQueue(label: "spillway.sink.lifecycle")
    private var value = false

    var isSet: Bool { queue.sync { value } }

    /// Sets the flag; false if it was already set.
    func set() -> Bool {
        queue.sync {
            if value { return false }
            value = true
            return true
        }
    }
}

extension Duration {
    /// For NIO's timeouts; saturates instead of trapping.
    public var timeAmount: TimeAmount {
        let (seconds, attoseconds) = components
        let (nanos, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return .nanoseconds(Int64.max) }
        return .nanoseconds(nanos &+ attoseconds / 1_000_000_000)
    }
}
