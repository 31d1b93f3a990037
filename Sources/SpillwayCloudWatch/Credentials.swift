import SpillwayCore

/// AWS credentials. `description` never shows the secret or the token (secrets never
/// appear in diagnostics), so an accidental interpolation cannot leak them.
struct AWSCredentials: Sendable, Equatable, CustomStringConvertible {
    var accessKeyID: String
    var secretAccessKey: String
    var sessionToken: String?
    /// nil for long-term credentials.
    var expiration: Timestamp?

    var description: String {
        let expiry = expiration.map { ", expires \(RFC3339.format($0, fractional: false))" } ?? ""
        return "credentials \(accessKeyID.prefix(4))…\(expiry)"
    }

    /// Reads the `AccessKeyId`, `SecretAccessKey`, `Token`, `Expiration` members that the container
    /// endpoint and instance metadata both answer with.
    static func fromJSON(_ bytes: [UInt8]) -> AWSCredentials? {
        guard let json = try? JSONValue.parse(bytes),
              let key = json["AccessKeyId"]?.string, !key.isEmpty,
              let secret = json["SecretAccessKey"]?.string, !secret.isEmpty else { return nil }
        var expiration: Timestamp? = nil
        if let text = json["Expiration"]?.string {
            guard let t = AWSTime.parse(text) else { return nil }
            expiration = t
        }
        let token = json["Token"]?.string ?? json["SessionToken"]?.string
        return AWSCredentials(accessKeyID: key, secretAccessKey: secret,
                              sessionToken: token?.isEmpty == false ? token : nil, expiration: expiration)
    }
}

/// A failure to get credentials: always retryable by the delivery core, never fatal.
struct CredentialsError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// When cached temporary credentials must be refreshed. At least 5 minutes before they
/// expire. Between 15 and 5 minutes a refresh is attempted but its failure is tolerated (the
/// old credentials still work); within 5 minutes they are no longer used.
struct RefreshPolicy: Sendable {
    var advisory: Duration = .seconds(15 * 60)
    var mandatory: Duration = .seconds(5 * 60)

    enum Decision: Equatable {
        /// Use the cached credentials.
        case use
        /// Use them, and refresh now; a failed refresh is only logged.
        case useAndRefresh
        /// Refresh first; without new credentials the send cannot go ahead.
        case refresh
    }

    func decide(_ cached: AWSCredentials?, now: Timestamp) -> Decision {
        guard let cached else { return .refresh }
        guard let expiration = cached.expiration else { return .use }
        let left = expiration.nanoseconds - now.nanoseconds
        if left > nanos(advisory) { return .use }
        if left > nanos(mandatory) { return .useAndRefresh }
        return .refresh
    }

    private func nanos(_ d: Duration) -> Int64 {
        let (s, atto) = d.components
        return s * 1_000_000_000 + atto / 1_000_000_000
    }
}
