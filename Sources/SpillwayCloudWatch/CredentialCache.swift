import NIOCore
import SpillwayCore

/// The chain's chosen provider plus the credentials it last gave. Temporary credentials are
/// refreshed ahead of their expiry (see `RefreshPolicy`); an auth error from the service calls
/// `invalidate()` so that the next attempt fetches new ones. Confined to the context's loop.
final class CredentialCache: @unchecked Sendable {
    let provider: any CredentialProvider
    let context: ProviderContext
    let policy: RefreshPolicy
    private let diagnostics: any Diagnostics
    private var cached: AWSCredentials?
    private var refreshing: EventLoopFuture<AWSCredentials>?
    private var lastError: String?

    init(provider: any CredentialProvider, context: ProviderContext, policy: RefreshPolicy = RefreshPolicy(),
         diagnostics: any Diagnostics) {
        self.provider = provider
        self.context = context
        self.policy = policy
        self.diagnostics = diagnostics
    }

    func get() -> EventLoopFuture<AWSCredentials> {
        context.loop.preconditionInEventLoop()
        switch policy.decide(cached, now: context.clock.now()) {
        case .use:
            return context.loop.makeSucceededFuture(cached!)
        case .useAndRefresh:
            let current = cached!
            refresh().whenFailure { [diagnostics] error in
                diagnostics.debug("cloudwatch: early credential refresh failed, still using the current ones: \(error)")
            }
            return context.loop.makeSucceededFuture(current)
        case .refresh:
            return refresh()
        }
    }

    /// The service refused the credentials: fetch new ones before the next request.
    func invalidate() {
        cached = nil
    }

    private func refresh() -> EventLoopFuture<AWSCredentials> {
        if let refreshing { return refreshing }
        let future = provider.fetch(context).flatMapErrorThrowing { error in
            throw CredentialsError("no AWS credentials from \(self.provider.name): \(error)")
        }
        refreshing = future
        // Runs at once if the provider answered synchronously, clearing `refreshing` again.
        future.whenComplete { [self] result in
            refreshing = nil
            switch result {
            case .success(let credentials):
                if cached == nil || lastError != nil {
                    diagnostics.info("cloudwatch: using \(credentials) from \(provider.name)")
                }
                cached = credentials
                lastError = nil
            case .failure(let error):
                lastError = "\(error)"
            }
        }
        return future
    }
}
