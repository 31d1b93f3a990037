import NIOCore
import NIOPosix
import SpillwayCore
import SpillwayEventLoop

/// `round-robin` and `weighted`: one connection per healthy server, each with its own batches in
/// flight, chosen by `ServerWeights`. A server that fails is marked down and the batches that
/// failed on it go at once to another healthy server (at-least-once); only when no server is
/// healthy does a batch complete `.retryable`, so the delivery modes keep their meaning. A down
/// server is probed every second (heartbeat `transport`) and, once a probe connects, takes traffic
/// again after `recoverWait` (at once when no other server is up). A host name is looked up again
/// at the start and at every reconnect of its servers, and each address it resolves to is a
/// server of its own, with the endpoint's weight. Owned by `ForwardClient`;
/// every method runs on its loop (which makes `@unchecked Sendable` sound).
final class ServerPool: @unchecked Sendable {
    typealias Completion = ForwardClient.Completion

    enum Health: Equatable { case up, down, recovering }

    final class Server: @unchecked Sendable {
        /// The endpoint's position in `SPILLWAY_FORWARD_ADDRESS`.
        let index: Int
        let endpoint: ForwardEndpoint
        /// One of the addresses the endpoint's host name resolved to; nil: connect by the name.
        let resolvedAddress: String?
        var health = Health.up
        /// Open or opening; a new one per reconnect, so a host name is resolved again each time.
        var connection: ForwardConnection?
        var opening = false
        /// Batches for this server while its connection opens.
        var waiting: [(Batch, Completion)] = []
        var lastFailure: String?
        var recovery: Scheduled<Void>?

        init(index: Int, endpoint: ForwardEndpoint, resolvedAddress: String? = nil) {
            self.index = index
            self.endpoint = endpoint
            self.resolvedAddress = resolvedAddress
        }

        var isConnected: Bool { connection?.isUsable == true }
        var name: String { endpoint.address.name(resolvedTo: resolvedAddress) }
    }

    static let probeInterval = TimeAmount.seconds(1)

    private unowned let client: ForwardClient
    private var servers: [Server]
    /// Endpoints whose host name is being looked up (off the loop).
    private var resolving: Set<Int> = []
    /// Connections of servers whose address left their name: closed once their batches are answered.
    private var retiring: [ForwardConnection] = []
    private var weights: ServerWeights
    private var rebuilds: UInt64 = 0
    private var probeTimer: RepeatedTask?
    /// Probes of the delivery core, answered once a server is connected or every attempt ended.
    private var probes: [@Sendable (Bool) -> Void] = []
    private var closed = false

    init(client: ForwardClient) {
        self.client = client
        servers = client.options.endpoints.enumerated().map { Server(index: $0, endpoint: $1) }
        weights = ServerWeights([], seed: 0)
        rebuild()
        for index in servers.indices { resolve(index) }
        if client.options.heartbeat == .transport {
            probeTimer = client.loop.scheduleRepeatedTask(initialDelay: Self.probeInterval, delay: Self.probeInterval) {
                [unowned self] _ in
                for server in servers where server.health == .down && !server.opening { open(server) }
            }
        }
    }

    private func rebuild() {
        let balance = client.options.balance
        let shares = servers.map {
            ServerWeights.Server(weight: balance == .roundRobin ? 1 : $0.endpoint.weight,
                                 standby: $0.endpoint.standby, healthy: $0.health == .up)
        }
        rebuilds += 1
        weights = ServerWeights(shares, seed: rebuilds)
    }

    // MARK: batches

    func send(_ batch: Batch, completion: @escaping Completion) {
        guard let server = pick() else { return completion(unavailable) }
        send(batch, to: server, completion: completion)
    }

    private var unavailable: SendOutcome {
        let reasons = servers.compactMap(\.lastFailure)
        return .retryable(reason: reasons.isEmpty ? "no forward server available" : reasons.joined(separator: "; "))
    }

    private func send(_ batch: Batch, to server: Server, completion: @escaping Completion) {
        guard let connection = server.connection, connection.isUsable else {
            server.waiting.append((batch, completion))
            if !server.opening { open(server) }
            return
        }
        connection.send(batch) { outcome in
            // A connection that failed under the batch is closed by now; one that is still open
            // refused only this batch (encoding), which the delivery core retries.
            guard case .retryable(let reason) = outcome, !self.closed, !connection.isUsable else {
                return completion(outcome)
            }
            if server.connection === connection { self.markDown(server, reason) }
            guard let next = self.pick() else { return completion(self.unavailable) }
            self.client.noteResent()
            self.send(batch, to: next, completion: completion)
        }
    }

    private func pick() -> Server? {
        if let i = weights.next() { return servers[i] }
        if acceptRecovering(), let i = weights.next() { return servers[i] }
        return nil
    }

    /// With no server up, a server whose probe succeeded is taken at once.
    private func acceptRecovering() -> Bool {
        guard !servers.contains(where: { $0.health == .up }) else { return false }
        let ready = servers.filter { $0.health == .recovering && $0.isConnected }
        for server in ready { becomeUp(server) }
        return !ready.isEmpty
    }

    // MARK: health

    private func open(_ server: Server) {
        server.opening = true
        resolve(server.index)
        let connection = ForwardConnection(
            client: client, index: server.index, endpoint: server.endpoint, resolvedAddress: server.resolvedAddress)
        server.connection = connection
        connection.open().whenComplete { result in
            server.opening = false
            // Closed, or retired meanwhile because its address left its name.
            if self.closed || !self.servers.contains(where: { $0 === server }) { return }
            switch result {
            case .success:
                self.opened(server)
            case .failure(let error):
                if server.connection === connection { server.connection = nil }
                let reason = (error as? ConnectFailure)?.reason ?? "\(connection.name): \(describe(error))"
                self.client.diagnostics.debug("forward: \(reason)")
                server.lastFailure = reason
                self.markDown(server, reason)
            }
            self.answerProbes()
        }
    }

    private func opened(_ server: Server) {
        switch server.health {
        case .up:
            let queued = server.waiting
            server.waiting = []
            for (batch, completion) in queued { send(batch, to: server, completion: completion) }
        case .down:
            let wait = client.options.recoverWait
            if !servers.contains(where: { $0.health == .up }) || wait <= .zero {
                becomeUp(server)
                return
            }
            server.health = .recovering
            client.diagnostics.info("forward: \(server.name) answers again; traffic in \(formatDuration(wait))")
            server.recovery = client.loop.scheduleTask(in: wait.timeAmount) {
                if server.health == .recovering, server.isConnected { self.becomeUp(server) }
            }
        case .recovering:
            break
        }
    }

    private func becomeUp(_ server: Server) {
        server.recovery?.cancel()
        server.recovery = nil
        server.health = .up
        server.lastFailure = nil
        client.diagnostics.info("forward: \(server.name) takes traffic again")
        rebuild()
    }

    /// Takes the server out of the choice and sends its waiting batches elsewhere.
    private func markDown(_ server: Server, _ reason: String) {
        server.lastFailure = reason
        guard server.health != .down else { return }
        let wasUp = server.health == .up
        server.health = .down
        server.recovery?.cancel()
        server.recovery = nil
        if wasUp {
            client.diagnostics.warning("forward: \(server.name) is down (\(reason)); probing it every second")
            rebuild()
        }
        if client.options.heartbeat == .none {
            // No probe of its own: the server is tried again once the recover wait has passed.
            server.recovery = client.loop.scheduleTask(in: client.options.recoverWait.timeAmount) {
                if server.health == .down { self.becomeUp(server) }
            }
        }
        let queued = server.waiting
        server.waiting = []
        for (batch, completion) in queued { send(batch, completion: completion) }
    }

    /// Called by a connection when it is closed, for whatever reason.
    func connectionClosed(_ connection: ForwardConnection) {
        retiring.removeAll { $0 === connection }
        guard let server = servers.first(where: { $0.connection === connection }), !server.opening, !closed else { return }
        server.connection = nil
        if server.health != .down {
            markDown(server, connection.closeReason ?? "connection to \(connection.name) closed")
        }
    }

    // MARK: names

    /// Looks the endpoint's host name up again, off the loop (getaddrinfo blocks), unless it is
    /// an IP address, a unix socket, or already being looked up.
    private func resolve(_ index: Int) {
        guard let resolveHost = client.resolveHost, !closed, !resolving.contains(index),
              let host = client.options.endpoints[index].address.hostName
        else { return }
        resolving.insert(index)
        NIOThreadPool.singleton.runIfActive(eventLoop: client.loop) { resolveHost(host) }.whenComplete { result in
            self.resolved(index, (try? result.get()) ?? [])
        }
    }

    /// Makes the endpoint's servers the addresses its name has now: new ones join, those whose
    /// address is gone leave (their batches in flight are still answered, those waiting go to
    /// another server). A name that does not resolve keeps its servers: their connects say why.
    private func resolved(_ index: Int, _ addresses: [String]) {
        resolving.remove(index)
        let current = servers.filter { $0.index == index }
        // The servers so far are those addresses already (a server by name, nil, is never one).
        guard !closed, !addresses.isEmpty, Set(current.map(\.resolvedAddress)) != Set(addresses.map(Optional.some))
        else { return }
        let endpoint = client.options.endpoints[index]
        let kept = current.filter { server in server.resolvedAddress.map(addresses.contains) ?? false }
        let joining = addresses.filter { address in !kept.contains { $0.resolvedAddress == address } }
            .map { Server(index: index, endpoint: endpoint, resolvedAddress: $0) }
        let leaving = current.filter { server in !kept.contains { $0 === server } }
        servers = servers.filter { $0.index < index } + kept + joining + servers.filter { $0.index > index }
        client.diagnostics.debug("forward: \(endpoint.address) resolves to \(addresses.joined(separator: ", "))")
        rebuild()
        var queued: [(Batch, Completion)] = []
        for server in leaving {
            server.recovery?.cancel()
            queued += server.waiting
            server.waiting = []
            if let connection = server.connection {
                server.connection = nil
                retiring.append(connection)
                _ = connection.drain()
            }
        }
        for (batch, completion) in queued { send(batch, completion: completion) }
    }

    // MARK: probes

    /// True at once when a server is connected; else every server that could take traffic is
    /// connected again, and the answer waits for the first success or the last failure.
    func probe(completion: @escaping @Sendable (Bool) -> Void) {
        if servers.contains(where: { $0.health == .up && $0.isConnected }) || acceptRecovering() {
            return completion(true)
        }
        probes.append(completion)
        for server in servers where !server.opening && !server.isConnected
            && (server.endpoint.weight > 0 || server.endpoint.standby) {
            open(server)
        }
        answerProbes()
    }

    private func answerProbes() {
        guard !probes.isEmpty else { return }
        let healthy = servers.contains(where: { $0.health == .up && $0.isConnected }) || acceptRecovering()
        guard healthy || !servers.contains(where: \.opening) else { return }
        let answered = probes
        probes = []
        for probe in answered { probe(healthy) }
    }

    // MARK: shutdown

    /// Fails what waits and returns the connections, for the client to drain.
    func shutdown() -> [ForwardConnection] {
        closed = true
        probeTimer?.cancel()
        let answered = probes
        probes = []
        for probe in answered { probe(false) }
        var connections: [ForwardConnection] = []
        for server in servers {
            server.recovery?.cancel()
            let queued = server.waiting
            server.waiting = []
            for (_, completion) in queued { completion(.retryable(reason: "forward sink is shut down")) }
            if let connection = server.connection { connections.append(connection) }
        }
        return connections + retiring
    }
}
