/// Reads the text of a few elements from an AWS query-API XML response (STS). Not an XML parser:
/// AWS's responses are flat and well-formed, and only leaf elements with text are read.
enum XMLFields {
    /// Text of the first `<name>…</name>` inside the first `<within>` element (or anywhere), with
    /// entities decoded.
    static func text(_ name: String, in xml: String, within: String? = nil) -> String? {
        var scope = Substring(xml)
        if let within {
            guard let inner = element(within, in: scope) else { return nil }
            scope = inner
        }
        return element(name, in: scope).map { decodeEntities($0) }
    }

    private static func element(_ name: String, in xml: Substring) -> Substring? {
        // Matches `<name>` and `<name attr=…>`, not `<nameSuffix>`.
        var search = xml[...]
        while let open = search.firstRange(ofText: "<" + name) {
            let after = search[open.upperBound...]
            guard let next = after.first else { return nil }
            if next == ">" || next == " " || next == "\t" || next == "\n" {
                guard let close = after.firstIndex(of: ">") else { return nil }
                if close > after.startIndex, after[after.index(before: close)] == "/" { return after[close..<close] }
                let contentStart = after.index(after: close)
                guard let end = after[contentStart...].firstRange(ofText: "</" + name + ">") else { return nil }
                return after[contentStart..<end.lowerBound]
            }
            search = after
        }
        return nil
    }

    static func decodeEntities(_ s: Substring) -> String {
        guard s.contains(text: "&") else { return String(s) }
        var out = ""
        var rest = s
        while let amp = rest.firstIndex(of: "&") {
            out += rest[..<amp]
            guard let semi = rest[amp...].firstIndex(of: ";") else { break }
            let entity = rest[rest.index(after: amp)..<semi]
            switch entity {
            case "amp": out += "&"
            case "lt": out += "<"
            case "gt": out += ">"
            case "quot": out += "\""
            case "apos": out += "'"
            default:
                var scalar: UInt32? = nil
                if entity.hasPrefix("#x") || entity.hasPrefix("#X") {
                    scalar = UInt32(entity.dropFirst(2), radix: 16)
                } else if entity.hasPrefix("#") {
                    scalar = UInt32(entity.dropFirst())
                }
                if let v = scalar, let u = Unicode.Scalar(v) {
                    out.unicodeScalars.append(u)
                } else {
                    out += rest[amp...semi]
                }
            }
            rest = rest[rest.index(after: semi)...]
        }
        out += rest
        return out
    }
}
