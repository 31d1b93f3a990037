import SpillwayCore

/// Start-up decisions that need no network: endpoint, region (unless it must come from instance
/// metadata) and which credential provider the chain picks (the AWS SDKs' order, README).
/// Every error names the variable to fix (a 125 at start).
enum Setup {
    typealias Fail = ConfigurationError

    static func isTrue(_ value: String?) -> Bool { value?.lowercased() == "true" }

    static func nonEmpty(_ env: [String: String], _ name: String) -> String? {
        guard let v = env[name], !v.isEmpty else { return nil }
        return v
    }

    /// An explicitly configured endpoint URL, or nil for the regional default. A bad URL names
    /// the variable it came from.
    static func configuredEndpoint(_ options: CloudWatchSinkOptions) throws(Fail) -> HTTPEndpoint? {
        guard let (variable, value) = endpointSource(options) else { return nil }
        do {
            return try HTTPEndpoint.parse(value)
        } catch {
            throw Fail(variable: variable, message: "\"\(value)\" is not a usable URL (\(error.reason)); expected e.g. https://logs.us-east-1.amazonaws.com")
        }
    }

    /// The endpoint the AWS SDKs would take, with the variable it comes from.
    static func endpointSource(_ options: CloudWatchSinkOptions) -> (variable: String, value: String)? {
        var candidates: [(String, String?)] = [("SPILLWAY_CLOUDWATCH_ENDPOINT", options.endpoint)]
        if !isTrue(options.environment["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"]) {
            candidates += ["AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", "AWS_ENDPOINT_URL"].map { ($0, nonEmpty(options.environment, $0)) }
        }
        for (variable, value) in candidates {
            if let value, !value.isEmpty { return (variable, value) }
        }
        return nil
    }

    static func regionalEndpoint(service: String, region: String) -> HTTPEndpoint {
        let suffix = region.hasPrefix("cn-") ? "amazonaws.com.cn" : "amazonaws.com"
        return HTTPEndpoint(secure: true, host: "\(service).\(region).\(suffix)")
    }

    /// The region from the options or the environment; nil means: ask instance metadata.
    static func configuredRegion(_ options: CloudWatchSinkOptions) -> String? {
        if let r = options.region, !r.isEmpty { return r }
        return nonEmpty(options.environment, "AWS_REGION") ?? nonEmpty(options.environment, "AWS_DEFAULT_REGION")
    }

    /// Instance metadata's base URL, or nil when AWS_EC2_METADATA_DISABLED=true.
    static func metadataEndpoint(_ env: [String: String]) throws(Fail) -> HTTPEndpoint? {
        if isTrue(env["AWS_EC2_METADATA_DISABLED"]) { return nil }
        if let custom = nonEmpty(env, "AWS_EC2_METADATA_SERVICE_ENDPOINT") {
            do {
                return try HTTPEndpoint.parse(custom)
            } catch {
                throw Fail(variable: "AWS_EC2_METADATA_SERVICE_ENDPOINT", message: "\"\(custom)\" is not a usable URL (\(error.reason))")
            }
        }
        let ipv6 = env["AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"]?.lowercased() == "ipv6"
        return try! HTTPEndpoint.parse(ipv6 ? InstanceMetadata.defaultIPv6Endpoint : InstanceMetadata.defaultEndpoint)
    }

    static func stsEndpoint(_ env: [String: String], region: String?) throws(Fail) -> HTTPEndpoint {
        var names = ["AWS_ENDPOINT_URL_STS"]
        if isTrue(env["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"]) { names = [] } else { names.append("AWS_ENDPOINT_URL") }
        for name in names {
            guard let value = nonEmpty(env, name) else { continue }
            do {
                return try HTTPEndpoint.parse(value)
            } catch {
                throw Fail(variable: name, message: "\"\(value)\" is not a usable URL (\(error.reason))")
            }
        }
        guard let region else { return HTTPEndpoint(secure: true, host: "sts.amazonaws.com") }
        return regionalEndpoint(service: "sts", region: region)
    }

    /// Which provider of the chain applies. Only configuration decides (no network): environment
    /// keys, web identity, a profile of the shared files, container credentials, and instance
    /// metadata as the last resort.
    static func credentialProvider(
        _ env: [String: String], credentialsEndpoint: String? = nil, region: String?, metadata: InstanceMetadata?, now: Int64,
        readFile: (String) throws -> [UInt8]
    ) throws(Fail) -> (any CredentialProvider)? {
        // Docker's awslogs-credentials-endpoint replaces the chain rather than joining it.
        if let credentialsEndpoint {
            return try ecsAgentCredentials(credentialsEndpoint, variable: "SPILLWAY_CLOUDWATCH_CREDENTIALS_ENDPOINT", env)
        }
        let key = nonEmpty(env, "AWS_ACCESS_KEY_ID")
        let secret = nonEmpty(env, "AWS_SECRET_ACCESS_KEY")
        switch (key, secret) {
        case let (key?, secret?):
            return EnvironmentCredentials(credentials: AWSCredentials(
                accessKeyID: key, secretAccessKey: secret, sessionToken: nonEmpty(env, "AWS_SESSION_TOKEN"), expiration: nil))
        case (_?, nil):
            throw Fail(variable: "AWS_SECRET_ACCESS_KEY", message: "missing while AWS_ACCESS_KEY_ID is set")
        case (nil, _?):
            throw Fail(variable: "AWS_ACCESS_KEY_ID", message: "missing while AWS_SECRET_ACCESS_KEY is set")
        case (nil, nil):
            break
        }

        let sessionName = nonEmpty(env, "AWS_ROLE_SESSION_NAME") ?? "spillway-\(now)"
        switch (nonEmpty(env, "AWS_WEB_IDENTITY_TOKEN_FILE"), nonEmpty(env, "AWS_ROLE_ARN")) {
        case let (file?, role?):
            return WebIdentityCredentials(tokenFile: file, roleARN: role, sessionName: sessionName,
                                          endpoint: try stsEndpoint(env, region: region))
        case (_?, nil):
            throw Fail(variable: "AWS_ROLE_ARN", message: "missing while AWS_WEB_IDENTITY_TOKEN_FILE is set")
        case (nil, _?):
            throw Fail(variable: "AWS_WEB_IDENTITY_TOKEN_FILE", message: "missing while AWS_ROLE_ARN is set")
        case (nil, nil):
            break
        }

        if let profile = try profileProvider(env, region: region, sessionName: sessionName, readFile: readFile) {
            return profile
        }

        if let relative = nonEmpty(env, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") {
            return try ecsAgentCredentials(relative, variable: "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", env)
        }
        if let full = nonEmpty(env, "AWS_CONTAINER_CREDENTIALS_FULL_URI") {
            let endpoint: HTTPEndpoint
            do { endpoint = try HTTPEndpoint.parse(full) } catch {
                throw Fail(variable: "AWS_CONTAINER_CREDENTIALS_FULL_URI", message: "\"\(full)\" is not a usable URL (\(error.reason))")
            }
            guard endpoint.secure || ContainerCredentials.allowsPlainHTTP(to: endpoint.host) else {
                throw Fail(variable: "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                           message: "plain http is allowed only to a loopback address, 169.254.170.2, 169.254.170.23 or fd00:ec2::23; use https for \(endpoint.host)")
            }
            return ContainerCredentials(endpoint: endpoint, token: nonEmpty(env, "AWS_CONTAINER_AUTHORIZATION_TOKEN"),
                                        tokenFile: nonEmpty(env, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"))
        }

        if let metadata { return InstanceMetadataCredentials(metadata: metadata) }
        return nil
    }

    /// Container credentials at a path of the ECS agent's fixed address.
    private static func ecsAgentCredentials(
        _ relative: String, variable: String, _ env: [String: String]
    ) throws(Fail) -> ContainerCredentials {
        let path = relative.hasPrefix("/") ? relative : "/" + relative
        let endpoint: HTTPEndpoint
        do { endpoint = try HTTPEndpoint.parse("http://169.254.170.2" + path) } catch {
            throw Fail(variable: variable, message: "\"\(relative)\" is not a usable path")
        }
        return ContainerCredentials(endpoint: endpoint, token: nonEmpty(env, "AWS_CONTAINER_AUTHORIZATION_TOKEN"),
                                    tokenFile: nonEmpty(env, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"))
    }

    static func sharedFilePaths(_ env: [String: String]) -> (credentials: String?, config: String?) {
        let home = nonEmpty(env, "HOME")
        return (nonEmpty(env, "AWS_SHARED_CREDENTIALS_FILE") ?? home.map { $0 + "/.aws/credentials" },
                nonEmpty(env, "AWS_CONFIG_FILE") ?? home.map { $0 + "/.aws/config" })
    }

    private static func profileProvider(
        _ env: [String: String], region: String?, sessionName: String, readFile: (String) throws -> [UInt8]
    ) throws(Fail) -> (any CredentialProvider)? {
        let explicit = nonEmpty(env, "AWS_PROFILE") ?? nonEmpty(env, "AWS_DEFAULT_PROFILE")
        let name = explicit ?? "default"
        let variable = env["AWS_PROFILE"] != nil ? "AWS_PROFILE" : "AWS_DEFAULT_PROFILE"
        let paths = sharedFilePaths(env)
        let credentialsFile = paths.credentials.flatMap { try? readFile($0) }.map { SharedConfigFile.parse($0, kind: .credentials) }
        let configFile = paths.config.flatMap { try? readFile($0) }.map { SharedConfigFile.parse($0, kind: .config) }
        guard let profile = SharedProfile.load(name: name, credentials: credentialsFile, config: configFile) else {
            if explicit != nil {
                throw Fail(variable: variable, message: "profile \"\(name)\" is not in \(paths.credentials ?? "the credentials file") or \(paths.config ?? "the config file")")
            }
            return nil
        }
        if profile.credentials != nil {
            return ProfileCredentials(profile: name, credentialsFile: paths.credentials ?? "", configFile: paths.config ?? "")
        }
        if let file = profile.settings["web_identity_token_file"], let role = profile.settings["role_arn"] {
            return WebIdentityCredentials(tokenFile: file, roleARN: role,
                                          sessionName: profile.settings["role_session_name"] ?? sessionName,
                                          endpoint: try stsEndpoint(env, region: region))
        }
        if let unsupported = profile.unsupportedSource {
            throw Fail(variable: explicit != nil ? variable : "AWS_PROFILE",
                       message: "profile \"\(name)\" gets its credentials through \(unsupported), which spillway does not support; give it aws_access_key_id/aws_secret_access_key or use another source of the chain")
        }
        return nil
    }
}

extension CloudWatchSinkOptions {
    /// The options with the region and endpoint the AWS SDKs would take from the environment
    /// (`AWS_REGION`, `AWS_DEFAULT_REGION`; `AWS_ENDPOINT_URL_CLOUDWATCH_LOGS`, `AWS_ENDPOINT_URL`
    /// unless `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`) where they are not set: the one place these
    /// fallbacks are resolved. A bad endpoint names the variable it came from.
    /// The AWS_* variables the region and the endpoint would come from, where the options set neither.
    public func fallbackSources() -> (region: String?, endpoint: String?) {
        let region = (region ?? "").isEmpty ? ["AWS_REGION", "AWS_DEFAULT_REGION"].first { Setup.nonEmpty(environment, $0) != nil } : nil
        let endpoint = Setup.endpointSource(self)?.variable
        return (region, endpoint == "SPILLWAY_CLOUDWATCH_ENDPOINT" ? nil : endpoint)
    }

    public func withEnvironmentFallbacks() throws(ConfigurationError) -> CloudWatchSinkOptions {
        var resolved = self
        resolved.region = Setup.configuredRegion(self)
        if try Setup.configuredEndpoint(self) != nil {
            resolved.endpoint = Setup.endpointSource(self)?.value
        }
        return resolved
    }
}
