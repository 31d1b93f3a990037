import NIOCore
import NIOPosix
import SpillwayCore
import SpillwayEventLoop

/// Delivers batches to Amazon CloudWatch Logs (PutLogEvents), signed with SigV4.
///
/// `send` makes one attempt and reports; the delivery core owns every retry and backoff. One
/// batch is in flight at a time (one stream takes its PutLogEvents in order). Setup is local
/// except one case: a region that only instance metadata can give is looked up at start for
/// about `metadataTimeout`. CloudWatch being unreachable never stops the start.
public typealias CloudWatchSink = EventLoopSink<CloudWatchClient>

extension EventLoopSink where Client == CloudWatchClient {
    /// The region in use.
    public var region: String { client.signer.region }
    /// The endpoint in use.
    public var endpointDescription: String { client.endpoint.description }

    /// `clock` stamps requests and times credentials; `readFile` reads the shared credential files
    /// and token files (both injected: this module does no I/O of its own outside the network).
    /// Throws a `ConfigurationError` naming the variable to fix.
    public convenience init(options unresolved: CloudWatchSinkOptions, diagnostics: any Diagnostics, clock: any WallClock,
         readFile: @escaping @Sendable (String) throws -> [UInt8]) throws {
        let options = try unresolved.withEnvironmentFallbacks()
        let env = options.environment
        let configuredEndpoint = try Setup.configuredEndpoint(options)
        let metadataBase = try Setup.metadataEndpoint(env)
        let metadata = metadataBase.map { InstanceMetadata(base: $0) }

        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let http = HTTPClient(loop: loop, connectTimeout: options.connectTimeout.timeAmount,
                              caFile: Setup.nonEmpty(env, "AWS_CA_BUNDLE"))
        func context(_ timeout: Duration) -> ProviderContext {
            ProviderContext(http: http, readFile: readFile, clock: clock, timeout: timeout.timeAmount)
        }
        do {
            var region = Setup.configuredRegion(options)
            if region == nil {
                guard let metadata else {
                    throw ConfigurationError(
                        variable: "SPILLWAY_CLOUDWATCH_REGION",
                        message: "no region: set it (or AWS_REGION); instance metadata is disabled (AWS_EC2_METADATA_DISABLED)")
                }
                region = try Self.lookUpRegion(metadata, context(options.metadataTimeout), within: options.metadataTimeout)
            }
            let resolvedRegion = region!
            let provider = try Setup.credentialProvider(
                env, credentialsEndpoint: options.credentialsEndpoint, region: resolvedRegion, metadata: metadata, now: clock.now().seconds, readFile: readFile)
            guard let provider else {
                throw ConfigurationError(
                    variable: "AWS_ACCESS_KEY_ID",
                    message: "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN, AWS_PROFILE, or AWS_CONTAINER_CREDENTIALS_RELATIVE_URI/_FULL_URI (instance metadata is disabled)")
            }
            let timeout = provider is InstanceMetadataCredentials ? options.metadataTimeout : options.credentialsTimeout
            let cache = CredentialCache(provider: provider, context: context(timeout), diagnostics: diagnostics)
            let endpoint = configuredEndpoint ?? Setup.regionalEndpoint(service: "logs", region: resolvedRegion)
            let client = CloudWatchClient(
                loop: loop, http: http, credentials: cache, signer: SigV4Signer(region: resolvedRegion, service: "logs"),
                endpoint: endpoint, options: options, clock: clock, diagnostics: diagnostics)
            self.init(client: client, group: group, name: "cloudwatch",
                      batchLimits: BatchLimits(maxRecords: 10_000, maxBytes: 1_048_576, bytesPerRecord: 26),
                      maxInFlight: 1)
            diagnostics.debug("cloudwatch: \(options.group):\(options.stream) at \(endpoint) (region \(resolvedRegion)), credentials from \(provider.name)")
        } catch {
            try? group.syncShutdownGracefully()
            throw error
        }
    }

    /// Asks instance metadata for the region, waiting at most about `within`.
    private static func lookUpRegion(_ metadata: InstanceMetadata, _ context: ProviderContext, within: Duration) throws -> String {
        let loop = context.loop
        let promise = loop.makePromise(of: String.self)
        loop.execute {
            let deadline = loop.scheduleTask(in: within.timeAmount) {
                promise.fail(CredentialsError("no answer within \(within)"))
            }
            metadata.region(context).whenComplete { result in
                deadline.cancel()
                promise.completeWith(result)
            }
        }
        do {
            return try promise.futureResult.wait()
        } catch {
            throw ConfigurationError(
                variable: "SPILLWAY_CLOUDWATCH_REGION",
                message: "no region set (nor AWS_REGION, AWS_DEFAULT_REGION) and instance metadata at \(metadata.base.hostHeader) gave none: \(error)")
        }
    }
}
