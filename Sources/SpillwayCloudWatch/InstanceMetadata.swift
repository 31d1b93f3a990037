import NIOCore
import NIOHTTP1
import SpillwayCore

/// EC2 instance metadata with IMDSv2 session tokens (never the v1 fallback: a token is what
/// protects the credentials from SSRF). Confined to the HTTP client's loop.
final class InstanceMetadata: @unchecked Sendable {
    let base: HTTPEndpoint
    private var token: (value: String, expires: Timestamp)?
    static let tokenTTL: Int64 = 21_600

    init(base: HTTPEndpoint) { self.base = base }

    static let defaultEndpoint = "http://169.254.169.254"
    static let defaultIPv6Endpoint = "http://[fd00:ec2::254]"

    private func endpoint(_ path: String) -> HTTPEndpoint {
        var prefix = base.path
        while prefix.hasSuffix("/") { prefix.removeLast() }
        return base.with(path: prefix + path)
    }

    private func sessionToken(_ context: ProviderContext) -> EventLoopFuture<String> {
        if let token, token.expires.nanoseconds - context.clock.now().nanoseconds > 60_000_000_000 {
            return context.loop.makeSucceededFuture(token.value)
        }
        let request = HTTPRequest(method: .PUT, endpoint: endpoint("/latest/api/token"),
                                  headers: [("x-aws-ec2-metadata-token-ttl-seconds", String(Self.tokenTTL)),
                                            ("user-agent", userAgent)], body: nil)
        return context.http.execute(request, timeout: context.timeout, keepAlive: false).flatMapThrowing { response in
            guard response.status == 200, !response.body.isEmpty else {
                throw CredentialsError("instance metadata token: HTTP \(response.status)")
            }
            let value = String(decoding: response.body, as: UTF8.self)
            self.token = (value, Timestamp(nanoseconds: context.clock.now().nanoseconds + Self.tokenTTL * 1_000_000_000))
            return value
        }
    }

    /// GETs a metadata path with the session token; a 401 (token expired early) gets one new token.
    func get(_ path: String, _ context: ProviderContext, retried: Bool = false) -> EventLoopFuture<[UInt8]> {
        sessionToken(context).flatMap { token in
            let request = HTTPRequest(method: .GET, endpoint: self.endpoint(path),
                                      headers: [("x-aws-ec2-metadata-token", token), ("user-agent", userAgent)], body: nil)
            return context.http.execute(request, timeout: context.timeout, keepAlive: false).flatMapThrowing { response -> [UInt8]? in
                if response.status == 401 && !retried { return nil }
                guard response.status == 200 else { throw CredentialsError("instance metadata \(path): HTTP \(response.status)") }
                return response.body
            }
        }.flatMap { body in
            if let body { return context.loop.makeSucceededFuture(body) }
            self.token = nil
            return self.get(path, context, retried: true)
        }.flatMapErrorThrowing { error in
            if error is CredentialsError { throw error }
            throw CredentialsError("instance metadata at \(self.base.hostHeader): \(describeHTTPError(error))")
        }
    }

    func region(_ context: ProviderContext) -> EventLoopFuture<String> {
        get("/latest/meta-data/placement/region", context).flatMapThrowing { body in
            let region = String(decoding: body, as: UTF8.self).trimmingSpaces().filter { !$0.isWhitespace }
            guard !region.isEmpty else { throw CredentialsError("instance metadata: empty region") }
            return region
        }
    }
}

struct InstanceMetadataCredentials: CredentialProvider {
    let metadata: InstanceMetadata
    var name: String { "instance metadata (\(metadata.base.hostHeader))" }

    func fetch(_ context: ProviderContext) -> EventLoopFuture<AWSCredentials> {
        let prefix = "/latest/meta-data/iam/security-credentials/"
        return metadata.get(prefix, context).flatMap { (body: [UInt8]) -> EventLoopFuture<[UInt8]> in
            let role = String(decoding: body, as: UTF8.self).split(whereSeparator: { $0 == "\n" || $0 == "\r" })
                .first.map { String($0.trimmingSpaces()) } ?? ""
            guard !role.isEmpty else {
                return context.loop.makeFailedFuture(CredentialsError("instance metadata: no IAM role attached to this instance"))
            }
            return self.metadata.get(prefix + PercentEncoding.encode(role), context)
        }.flatMapThrowing { (body: [UInt8]) -> AWSCredentials in
            if let code = (try? JSONValue.parse(body))?["Code"]?.string, code != "Success" {
                throw CredentialsError("instance metadata credentials: \(code)")
            }
            guard let credentials = AWSCredentials.fromJSON(body) else {
                throw CredentialsError("instance metadata credentials: unexpected response")
            }
            return credentials
        }
    }
}
