/// An http(s) URL split into what the HTTP client and the signer need.
struct HTTPEndpoint: Sendable, Equatable, CustomStringConvertible {
    var secure: Bool
    /// Without IPv6 brackets.
    var host: String
    var port: Int
    /// Raw (already percent-encoded) path, at least "/".
    var path: String
    /// Raw query without "?", or nil.
    var query: String?

    struct Invalid: Error {
        var reason: String
    }

    init(secure: Bool, host: String, port: Int? = nil, path: String = "/", query: String? = nil) {
        self.secure = secure
        self.host = host
        self.port = port ?? (secure ? 443 : 80)
        self.path = path.isEmpty ? "/" : path
        self.query = query
    }

    static func parse(_ text: String) throws(Invalid) -> HTTPEndpoint {
        let lower = text.lowercased()
        let secure: Bool
        var rest: Substring
        if lower.hasPrefix("https://") {
            secure = true
            rest = text.dropFirst(8)
        } else if lower.hasPrefix("http://") {
            secure = false
            rest = text.dropFirst(7)
        } else {
            throw Invalid(reason: "not an http:// or https:// URL")
        }
        if let hash = rest.firstIndex(of: "#") { rest = rest[..<hash] }
        var query: String? = nil
        if let q = rest.firstIndex(of: "?") {
            query = String(rest[rest.index(after: q)...])
            rest = rest[..<q]
        }
        let authority: Substring
        var path = "/"
        if let slash = rest.firstIndex(of: "/") {
            authority = rest[..<slash]
            path = String(rest[slash...])
        } else {
            authority = rest
        }
        guard !authority.contains(text: "@") else { throw Invalid(reason: "user information in the URL is not supported") }
        var host: Substring
        var portText: Substring? = nil
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw Invalid(reason: "unclosed '[' in the host") }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw Invalid(reason: "unexpected text after the host") }
                portText = after.dropFirst()
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            portText = authority[authority.index(after: colon)...]
        } else {
            host = authority
        }
        guard !host.isEmpty, !host.contains(where: { $0 == " " || $0 == "%" }) else { throw Invalid(reason: "no valid host") }
        var port: Int? = nil
        if let portText {
            guard let p = Int(portText), (1...65535).contains(p) else { throw Invalid(reason: "invalid port \"\(portText)\"") }
            port = p
        }
        guard !path.contains(where: { $0 == " " }) else { throw Invalid(reason: "spaces in the path") }
        return HTTPEndpoint(secure: secure, host: String(host), port: port, path: path, query: query)
    }

    var isDefaultPort: Bool { port == (secure ? 443 : 80) }

    /// The Host header (and what SigV4 signs as `host`): the port only when not the default.
    var hostHeader: String {
        let h = host.contains(text: ":") ? "[\(host)]" : host
        return isDefaultPort ? h : "\(h):\(port)"
    }

    /// Request target: path and query.
    var target: String { query.map { "\(path)?\($0)" } ?? path }

    /// The same server with another path (and no query).
    func with(path: String) -> HTTPEndpoint {
        HTTPEndpoint(secure: secure, host: host, port: port, path: path)
    }

    var description: String { "\(secure ? "https" : "http")://\(hostHeader)\(target)" }
}

/// RFC 3986 percent-encoding as SigV4 and form bodies use it: unreserved characters stay.
enum PercentEncoding {
    static func encode(_ text: String, keepSlash: Bool = false) -> String {
        encode(Array(text.utf8), keepSlash: keepSlash)
    }

    static func encode(_ bytes: [UInt8], keepSlash: Bool) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        for b in bytes {
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"),
                 UInt8(ascii: "."), UInt8(ascii: "~"):
                out.append(b)
            case UInt8(ascii: "/") where keepSlash:
                out.append(b)
            default:
                out.append(contentsOf: [UInt8(ascii: "%"), hex[Int(b >> 4)], hex[Int(b & 15)]])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
