import NIOCore
import NIOHTTP1
import SpillwayCore

/// What providers use to fetch: the HTTP client (on its loop), file reading and the clock.
struct ProviderContext: Sendable {
    var http: HTTPClient
    var readFile: @Sendable (String) throws -> [UInt8]
    var clock: any WallClock
    var timeout: TimeAmount
    var loop: any EventLoop { http.loop }
}

/// One source in the chain. `fetch` runs on the context's loop.
protocol CredentialProvider: Sendable {
    /// For diagnostics: "environment", "web identity (arn:…)".
    var name: String { get }
    func fetch(_ context: ProviderContext) -> EventLoopFuture<AWSCredentials>
}

/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`.
struct EnvironmentCredentials: CredentialProvider {
    var credentials: AWSCredentials
    var name: String { "environment (AWS_ACCESS_KEY_ID)" }

    func fetch(_ context: ProviderContext) -> EventLoopFuture<AWSCredentials> {
        context.loop.makeSucceededFuture(credentials)
    }
}

/// Static keys of a profile in the shared files, read again at each refresh (rotated files).
struct ProfileCredentials: CredentialProvider {
    var profile: String
    var credentialsFile: String
    var configFile: String
    var name: String { "shared files (profile \(profile))" }

    func fetch(_ context: ProviderContext) -> EventLoopFuture<AWSCredentials> {
        let credentials = (try? context.readFile(credentialsFile)).map { SharedConfigFile.parse($0, kind: .credentials) }
        let config = (try? context.readFile(configFile)).map { SharedConfigFile.parse($0, kind: .config) }
        guard let found = SharedProfile.load(name: profile, credentials: credentials, config: config)?.credentials else {
            return context.loop.makeFailedFuture(CredentialsError("profile \(profile) has no aws_access_key_id/aws_secret_access_key in \(credentialsFile) or \(configFile)"))
        }
        return context.loop.makeSucceededFuture(found)
    }
}

/// STS AssumeRoleWithWebIdentity (EKS IRSA and the like). The token file is read at each
/// refresh because the platform rotates it. The call is unsigned: the token is the proof.
struct WebIdentityCredentials: CredentialProvider {
    var tokenFile: String
    var roleARN: String
    var sessionName: String
    var endpoint: HTTPEndpoint
    var name: String { "web identity (\(roleARN))" }

    func fetch(_ context: ProviderContext) -> EventLoopFuture<AWSCredentials> {
        let token: String
        do {
            token = String(decoding: try context.readFile(tokenFile), as: UTF8.self).trimmingWhitespace()
        } catch {
            return context.loop.makeFailedFuture(CredentialsError("cannot read AWS_WEB_IDENTITY_TOKEN_FILE \(tokenFile): \(error)"))
        }
        let form = [("Action", "AssumeRoleWithWebIdentity"), ("Version", "2011-06-15"), ("RoleArn", roleARN),
                    ("RoleSessionName", sessionName), ("WebIdentityToken", token)]
            .map { "\($0.0)=\(PercentEncoding.encode($0.1))" }.joined(separator: "&")
        var body = ByteBuffer()
        body.writeString(form)
        let request = HTTPRequest(method: .POST, endpoint: endpoint,
                                  headers: [("content-type", "application/x-www-form-urlencoded; charset=utf-8"),
                                            ("accept", "text/xml"), ("user-agent", userAgent)],
                                  body: body)
        let where_ = endpoint.hostHeader
        return context.http.execute(request, timeout: context.timeout, keepAlive: false).flatMapThrowing { response in
            let xml = String(decoding: response.body, as: UTF8.self)
            guard response.status == 200 else {
                let code = XMLFields.text("Code", in: xml) ?? "HTTP \(response.status)"
                let message = XMLFields.text("Message", in: xml).map { ": " + String($0.prefix(200)) } ?? ""
                throw CredentialsError("STS AssumeRoleWithWebIdentity at \(where_): \(code)\(message)")
            }
            guard let key = XMLFields.text("AccessKeyId", in: xml, within: "Credentials"),
                  let secret = XMLFields.text("SecretAccessKey", in: xml, within: "Credentials"),
                  let session = XMLFields.text("SessionToken", in: xml, within: "Credentials"),
                  let expiry = XMLFields.text("Expiration", in: xml, within: "Credentials").flatMap({ AWSTime.parse($0) })
            else { throw CredentialsError("STS AssumeRoleWithWebIdentity at \(where_): unexpected response") }
            return AWSCredentials(accessKeyID: key, secretAccessKey: secret, sessionToken: session, expiration: expiry)
        }.flatMapErrorThrowing { error in
            if error is CredentialsError { throw error }
            throw CredentialsError("STS AssumeRoleWithWebIdentity: \(describeHTTPError(error))")
        }
    }
}

/// ECS / EKS Pod Identity container credentials endpoint.
struct ContainerCredentials: CredentialProvider {
    var endpoint: HTTPEndpoint
    var token: String?
    /// Read at each fetch (EKS Pod Identity rotates it); wins over `token`.
    var tokenFile: String?
    var name: String { "container credentials (\(endpoint.hostHeader))" }

    func fetch(_ context: ProviderContext) -> EventLoopFuture<AWSCredentials> {
        var headers: [(String, String)] = [("accept", "application/json"), ("user-agent", userAgent)]
        var authorization = token
        if let tokenFile {
            do {
                authorization = String(decoding: try context.readFile(tokenFile), as: UTF8.self).trimmingWhitespace()
            } catch {
                return context.loop.makeFailedFuture(CredentialsError("cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE \(tokenFile): \(error)"))
            }
        }
        if let authorization {
            guard !authorization.contains(where: { $0 == "\r" || $0 == "\n" }) else {
                return context.loop.makeFailedFuture(CredentialsError("the container authorization token contains a line break"))
            }
            headers.append(("authorization", authorization))
        }
        let request = HTTPRequest(method: .GET, endpoint: endpoint, headers: headers, body: nil)
        let where_ = endpoint.hostHeader
        return context.http.execute(request, timeout: context.timeout, keepAlive: false).flatMapThrowing { response in
            guard response.status == 200 else {
                throw CredentialsError("container credentials endpoint \(where_): HTTP \(response.status)")
            }
            guard let credentials = AWSCredentials.fromJSON(response.body) else {
                throw CredentialsError("container credentials endpoint \(where_): unexpected response")
            }
            return credentials
        }.flatMapErrorThrowing { error in
            if error is CredentialsError { throw error }
            throw CredentialsError("container credentials endpoint: \(describeHTTPError(error))")
        }
    }

    /// Plain http is allowed only to the hosts the SDKs allow (README, credentials).
    static func allowsPlainHTTP(to host: String) -> Bool {
        let h = host.lowercased()
        if ["localhost", "169.254.170.2", "169.254.170.23", "fd00:ec2::23", "::1", "0:0:0:0:0:0:0:1"].contains(h) { return true }
        let parts = h.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }
}

let userAgent = "spillway"
