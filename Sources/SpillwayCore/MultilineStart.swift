/// What starts a new multiline record: a regex (`SPILLWAY_MULTILINE_PATTERN`, matched as
/// written) or an strftime format (`SPILLWAY_MULTILINE_DATETIME_FORMAT`), turned into a regex
/// with the table of Docker's awslogs driver and matched, as there, anywhere in the line.
public enum MultilineStart: Sendable, Equatable {
    case pattern(String)
    case datetimeFormat(String)

    /// The start regex, in RE2 syntax.
    public var regex: String {
        switch self {
        case .pattern(let p): p
        case .datetimeFormat(let f): MultilineStart.regex(strftime: f)
        }
    }

    /// Docker's `strftimeToRegex`: each `%X` is replaced by its entry, an unknown one by nothing
    /// (as Go's map lookup gives ""); the rest of the format stays as written (it is regex text).
    public static func regex(strftime format: String) -> String {
        var out = ""
        var chars = format[...]
        while let c = chars.popFirst() {
            if c == "%", let code = chars.popFirst() {
                out += strftimeTable[code] ?? ""
            } else {
                out.append(c)
            }
        }
        return out
    }

    static let strftimeTable: [Character: String] = [
        "a": "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)",
        "A": "(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)",
        "w": "[0-6]",
        "d": "(?:0[1-9]|[1,2][0-9]|3[0,1])",
        "b": "(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)",
        "B": "(?:January|February|March|April|May|June|July|August|September|October|November|December)",
        "m": "(?:0[1-9]|1[0-2])",
        "Y": "\\d{4}",
        "y": "\\d{2}",
        "H": "(?:[0,1][0-9]|2[0-3])",
        "I": "(?:0[0-9]|1[0-2])",
        "p": "[A,P]M",
        "M": "[0-5][0-9]",
        "S": "[0-5][0-9]",
        "f": "\\d{6}",
        "z": "[+-]\\d{4}",
        "Z": "[A-Z]{1,4}T",
        "j": "(?:0[0-9][1-9]|[1,2][0-9][0-9]|3[0-5][0-9]|36[0-6])",
        "L": "\\.\\d{3}",
    ]
}
