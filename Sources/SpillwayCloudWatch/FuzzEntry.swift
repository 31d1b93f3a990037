import SpillwayCore

/// Entry points of the fuzz targets Sources/FuzzJSON, FuzzHTTPResponse and FuzzSharedConfig
/// (scripts/fuzz): the bytes spillway reads from CloudWatch, STS, credential endpoints and the
/// AWS shared files reach their parsers this way. Public only for those targets.
public enum FuzzEntry {
    /// The JSON reader, and what reads its documents (CloudWatch answers, credential endpoints).
    public static func json(_ bytes: [UInt8]) {
        if let value = try? JSONValue.parse(bytes) {
            _ = value["message"]?.string
            _ = value["rejectedLogEventsInfo"]?["tooNewLogEventStartIndex"]?.int
        }
        _ = AWSCredentials.fromJSON(bytes)
    }

    /// An HTTP answer as the clients read it once NIOHTTP1 has split it: two bytes of status, a
    /// line with the `x-amzn-errortype` header (empty: none), then the body, read as a CloudWatch
    /// answer, as an STS answer (XML) and as container or instance-metadata credentials.
    public static func httpResponse(_ bytes: [UInt8]) {
        guard bytes.count >= 2 else { return }
        let status = (Int(bytes[0]) << 8 | Int(bytes[1])) % 600
        let rest = bytes[2...]
        let newline = rest.firstIndex(of: 0x0A) ?? rest.endIndex
        let header = String(decoding: rest[..<newline], as: UTF8.self)
        let body = Array(rest[(newline == rest.endIndex ? newline : newline + 1)...])
        let answer = CloudWatchAPI.classify(status: status, errorTypeHeader: header.isEmpty ? nil : header, body: body)
        switch answer {
        case .notFound(let text), .auth(let text), .invalid(let text), .retryable(let text):
            _ = CloudWatchAPI.isEventTooLarge(text)
        case .ok, .alreadyExists:
            break
        }
        // STS AssumeRoleWithWebIdentity, as WebIdentityCredentials reads it.
        let xml = String(decoding: body, as: UTF8.self)
        _ = XMLFields.text("Code", in: xml)
        _ = XMLFields.text("Message", in: xml)
        for name in ["AccessKeyId", "SecretAccessKey", "SessionToken"] {
            _ = XMLFields.text(name, in: xml, within: "Credentials")
        }
        if let expiry = XMLFields.text("Expiration", in: xml, within: "Credentials") {
            _ = AWSTime.parse(expiry)
        }
        _ = AWSCredentials.fromJSON(body)
    }

    /// The shared credentials and config files, read both ways, and every profile in them.
    public static func sharedConfig(_ bytes: [UInt8]) {
        let credentials = SharedConfigFile.parse(bytes, kind: .credentials)
        let config = SharedConfigFile.parse(bytes, kind: .config)
        for name in Set(credentials.sections.keys).union(config.sections.keys) {
            guard let profile = SharedProfile.load(name: name, credentials: credentials, config: config) else {
                preconditionFailure("shared config: no profile \(name) although a file has its section")
            }
            _ = profile.credentials
            _ = profile.unsupportedSource
        }
    }
}
