import SpillwayCore
import SpillwayDigest

/// AWS Signature Version 4 for header-signed requests (service `logs`). Canonicalises
/// as botocore does for non-S3 services: the path has its dot segments and empty segments removed
/// and is percent-encoded once more (so "%20" is signed as "%2520"), header values are trimmed
/// with inner runs of whitespace collapsed, and every header given is signed.
struct SigV4Signer: Sendable {
    var region: String
    var service: String

    struct Signed: Equatable {
        var authorization: String
        var canonicalRequest: String
        var stringToSign: String
    }

    /// Headers excluded from signing (botocore's list, plus content-length, which the HTTP layer
    /// owns and which proxies may rewrite).
    static let unsignedHeaders: Set<String> = [
        "authorization", "connection", "expect", "keep-alive", "proxy-authenticate", "proxy-authorization",
        "te", "trailer", "transfer-encoding", "upgrade", "user-agent", "x-amzn-trace-id", "content-length",
    ]

    /// Signs a request whose `headers` already hold `host`, `x-amz-date` (= `amzDate`) and, with
    /// temporary credentials, `x-amz-security-token`.
    func sign(method: String, path: String, query: String?, headers: [(String, String)],
              payloadHash: String, amzDate: String, credentials: AWSCredentials) -> Signed {
        var byName: [String: [String]] = [:]
        for (name, value) in headers {
            let lname = name.lowercased()
            if Self.unsignedHeaders.contains(lname) { continue }
            byName[lname, default: []].append(Self.trimAll(value))
        }
        let names = byName.keys.sorted()
        let signedHeaders = names.joined(separator: ";")
        var canonical = method.uppercased() + "\n"
        canonical += Self.canonicalPath(path) + "\n"
        canonical += Self.canonicalQuery(query) + "\n"
        for name in names { canonical += name + ":" + byName[name]!.joined(separator: ",") + "\n" }
        canonical += "\n" + signedHeaders + "\n" + payloadHash

        let date = String(amzDate.prefix(8))
        let scope = "\(date)/\(region)/\(service)/aws4_request"
        let stringToSign = "AWS4-HMAC-SHA256\n\(amzDate)\n\(scope)\n" + Self.hexSHA256(Array(canonical.utf8))
        let key = Self.signingKey(secret: credentials.secretAccessKey, date: date, region: region, service: service)
        let signature = Hex.string(Digest.hmacSHA256(key: key, message: Array(stringToSign.utf8)))
        let authorization = "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope), "
            + "SignedHeaders=\(signedHeaders), Signature=\(signature)"
        return Signed(authorization: authorization, canonicalRequest: canonical, stringToSign: stringToSign)
    }

    static func signingKey(secret: String, date: String, region: String, service: String) -> [UInt8] {
        var key = Array(("AWS4" + secret).utf8)
        for part in [date, region, service, "aws4_request"] { key = Digest.hmacSHA256(key: key, message: Array(part.utf8)) }
        return key
    }

    /// RFC 3986 "remove dot segments", also dropping empty segments, then encoded again.
    static func canonicalPath(_ raw: String) -> String {
        if raw.isEmpty { return "/" }
        var segments: [Substring] = []
        for part in raw.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == ".." {
                if !segments.isEmpty { segments.removeLast() }
                continue
            }
            segments.append(part)
        }
        var path = raw.hasPrefix("/") ? "/" : ""
        path += segments.joined(separator: "/")
        if raw.hasSuffix("/") && !segments.isEmpty { path += "/" }
        return PercentEncoding.encode(path, keepSlash: true)
    }

    /// Pairs sorted as given (the raw query is already encoded).
    static func canonicalQuery(_ raw: String?) -> String {
        guard let raw, !raw.isEmpty else { return "" }
        let pairs = raw.split(separator: "&", omittingEmptySubsequences: false).map { pair -> (String, String) in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
        }
        return pairs.sorted { $0.0 != $1.0 ? $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) : $0.1.utf8.lexicographicallyPrecedes($1.1.utf8) }
            .map { "\($0.0)=\($0.1)" }.joined(separator: "&")
    }

    /// Trims and collapses runs of ASCII whitespace to one space (SigV4's Trimall).
    static func trimAll(_ value: String) -> String {
        func isSpace(_ b: UInt8) -> Bool { b == 0x20 || (0x09...0x0D).contains(b) || (0x1C...0x1F).contains(b) }
        var out: [UInt8] = []
        var pendingSpace = false
        for b in value.utf8 {
            if isSpace(b) {
                pendingSpace = !out.isEmpty
            } else {
                if pendingSpace { out.append(0x20) }
                pendingSpace = false
                out.append(b)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func hexSHA256(_ bytes: [UInt8]) -> String {
        Hex.string(Digest.sha256(bytes))
    }

    static func hexSHA256(buffer: UnsafeRawBufferPointer) -> String {
        Hex.string(Digest.sha256(buffer))
    }

}
