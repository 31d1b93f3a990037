import SpillwayCore

/// The CloudWatch Logs JSON 1.1 protocol: request bodies and the meaning of answers.
enum CloudWatchAPI {
    static let targetPrefix = "Logs_20140328."
    static let contentType = "application/x-amz-json-1.1"

    /// `{"logGroupName":…,"logStreamName":…,"logEvents":[{"timestamp":…,"message":…},…]}`.
    static func putLogEventsBody(group: String, stream: String, events: ArraySlice<PlannedEvent>) -> [UInt8] {
        var capacity = 128 + group.utf8.count + stream.utf8.count
        for e in events { capacity += e.message.count + 48 }
        var w = JSONWriter(capacity: capacity)
        w.raw("{\"logGroupName\":")
        w.string(group)
        w.raw(",\"logStreamName\":")
        w.string(stream)
        w.raw(",\"logEvents\":[")
        // Consecutive events often share a millisecond: their `{"timestamp":…,"message":` prefix is
        // written once and copied.
        var prefix: [UInt8] = []
        var prefixTime = Int64.min
        var first = true
        for e in events {
            if e.timestamp != prefixTime {
                var p = JSONWriter(capacity: 48)
                p.raw(",{\"timestamp\":")
                p.integer(e.timestamp)
                p.raw(",\"message\":")
                prefix = p.bytes
                prefixTime = e.timestamp
            }
            if first {
                w.bytes.append(contentsOf: prefix[1...])
                first = false
            } else {
                w.bytes.append(contentsOf: prefix)
            }
            w.string(e.message)
            w.raw("}")
        }
        w.raw("]}")
        return w.bytes
    }

    /// What an answer means for the sink.
    enum Answer: Equatable {
        case ok(JSONValue?)
        case notFound(String)
        case alreadyExists
        /// The credentials were refused: refresh them, then retry.
        case auth(String)
        /// The request itself was refused (InvalidParameterException and the like).
        case invalid(String)
        /// Throttling, 5xx, anything unknown: retry after the core's backoff.
        case retryable(String)
    }

    static let authErrors: Set<String> = [
        "ExpiredToken", "ExpiredTokenException", "UnrecognizedClientException", "InvalidSignatureException",
        "InvalidClientTokenId", "SignatureDoesNotMatch", "IncompleteSignature", "MissingAuthenticationToken",
        "AccessDeniedException", "InvalidAccessKeyId", "RequestExpired",
    ]

    static func classify(status: Int, errorTypeHeader: String?, body: [UInt8]) -> Answer {
        let json = try? JSONValue.parse(body)
        if (200..<300).contains(status) {
            // Success carries JSON or nothing; anything else came from something in between (a
            // proxy, a captive portal): the events cannot be known to be stored.
            let empty = body.allSatisfy { $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }
            guard json != nil || empty else {
                return .retryable("HTTP \(status) with a body that is not JSON (\(body.count) bytes): not CloudWatch Logs?")
            }
            return .ok(json)
        }
        var type = json?["__type"]?.string ?? json?["code"]?.string ?? errorTypeHeader ?? ""
        // "com.amazonaws.logs#ResourceNotFoundException", "ResourceNotFoundException:http://…".
        if let hash = type.lastIndex(of: "#") { type = String(type[type.index(after: hash)...]) }
        if let colon = type.firstIndex(of: ":") { type = String(type[..<colon]) }
        let message = (json?["message"]?.string ?? json?["Message"]?.string).map { String($0.prefix(300)) }
        let text = (type.isEmpty ? "HTTP \(status)" : "\(type) (HTTP \(status))") + (message.map { ": " + $0 } ?? "")
        switch type {
        case "ResourceNotFoundException": return .notFound(text)
        case "ResourceAlreadyExistsException": return .alreadyExists
        case "DataAlreadyAcceptedException": return .ok(nil)
        case "InvalidParameterException", "SerializationException", "ValidationException":
            return .invalid(text)
        case _ where authErrors.contains(type):
            return .auth(text)
        default:
            return .retryable(text)
        }
    }

    /// The service's way of saying an event is over its (unpublished) size cap.
    static func isEventTooLarge(_ text: String) -> Bool {
        let lower = text.lowercased()
        return lower.contains(text: "too large") || lower.contains(text: "exceeds")
    }
}
