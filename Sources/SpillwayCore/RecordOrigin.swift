/// What a record was read with besides its bytes: the fields every record carries and the names
/// its destination files it under (the forward tag, the CloudWatch stream). Filesystem mode keeps
/// it beside the segments so that `--drain`, which has no workload to name, sends a backlog as
/// the run that read it would have.
public struct RecordOrigin: Sendable, Equatable {
    public var fields: RecordFields
    public var tag: String
    public var stream: String

    public init(fields: RecordFields, tag: String, stream: String) {
        self.fields = fields
        self.tag = tag
        self.stream = stream
    }

    /// A JSON object: {"container_name", "container_id" (absent when unknown), "fields": [[name,
    /// value], …] in order, "tag", "stream"}.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        func string(_ text: String) {
            out.append(UInt8(ascii: "\""))
            Array(text.utf8).withUnsafeBytes { appendJSONEscaped($0, to: &out) }
            out.append(UInt8(ascii: "\""))
        }
        out.append(contentsOf: #"{"container_name":"#.utf8)
        string(fields.containerName)
        if let id = fields.containerID {
            out.append(contentsOf: #","container_id":"#.utf8)
            string(id)
        }
        out.append(contentsOf: #","fields":["#.utf8)
        for (i, field) in fields.extra.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.append(UInt8(ascii: "["))
            string(field.name)
            out.append(UInt8(ascii: ","))
            string(field.value)
            out.append(UInt8(ascii: "]"))
        }
        out.append(contentsOf: #"],"tag":"#.utf8)
        string(tag)
        out.append(contentsOf: #","stream":"#.utf8)
        string(stream)
        out.append(contentsOf: "}\n".utf8)
        return out
    }

    /// The origin `encoded()` wrote; nil for anything else.
    public init?(decoding bytes: [UInt8]) {
        guard let document = try? JSONValue.parse(bytes),
              let name = document["container_name"]?.string,
              let tag = document["tag"]?.string,
              let stream = document["stream"]?.string,
              case .array(let entries)? = document["fields"]
        else { return nil }
        var extra: [RecordFields.Field] = []
        for entry in entries {
            guard case .array(let pair) = entry, pair.count == 2, let key = pair[0].string, let value = pair[1].string
            else { return nil }
            extra.append(RecordFields.Field(name: key, value: value))
        }
        let id = document["container_id"]
        if id != nil && id?.string == nil { return nil }
        self.init(fields: RecordFields(containerName: name, containerID: id?.string, extra: extra), tag: tag, stream: stream)
    }
}
