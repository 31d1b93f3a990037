/// A tag, stream or path template with the fields {name}, {id}, {short_id} and {hostname}.
/// "{{" and "}}" stand for literal braces. Parsed when read (so an unknown field is reported
/// against its own variable) and expanded once every variable is known.
struct Template: Equatable, Sendable {
    enum Part: Equatable, Sendable { case literal(String), name, id, shortID, hostname }
    var parts: [Part]

    static let defaultTag = Template(parts: [.literal("spillway."), .name])
    static let defaultStream = Template(parts: [.name, .literal("/"), .hostname])
    static let expected = "text with the template fields {name}, {id}, {short_id} and {hostname} ({{ and }} for literal braces)"
    /// Docker's short container id ({{.ID}}) is the id's first 12 characters.
    static let shortIDLength = 12

    var usesID: Bool { parts.contains(.id) || parts.contains(.shortID) }

    static func parse(_ s: String) throws(Expected) -> Template {
        var parts: [Part] = []
        var literal = ""
        var i = s.startIndex
        func flush() {
            if !literal.isEmpty { parts.append(.literal(literal)) }
            literal = ""
        }
        while i < s.endIndex {
            let c = s[i]
            let next = s.index(after: i)
            if (c == "{" || c == "}"), next < s.endIndex, s[next] == c {
                literal.append(c)
                i = s.index(after: next)
            } else if c == "{" {
                guard let close = s[next...].firstIndex(of: "}") else { throw Expected(expected + "; a '{' is not closed") }
                let field = s[next..<close]
                flush()
                switch field {
                case "name": parts.append(.name)
                case "id": parts.append(.id)
                case "short_id": parts.append(.shortID)
                case "hostname": parts.append(.hostname)
                default: throw Expected(expected + "; {\(field)} is not a field")
                }
                i = s.index(after: close)
            } else if c == "}" {
                throw Expected(expected + "; a '}' has no '{'")
            } else {
                literal.append(c)
                i = next
            }
        }
        flush()
        return Template(parts: parts)
    }

    func expand(name: String, id: String?, hostname: String) -> String {
        var out = ""
        for part in parts {
            switch part {
            case .literal(let s): out += s
            case .name: out += name
            case .id: out += id ?? ""
            case .shortID: out += id.map { String($0.prefix(Self.shortIDLength)) } ?? ""
            case .hostname: out += hostname
            }
        }
        return out
    }
}
