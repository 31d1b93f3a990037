/// What the command line asks for. Everything else is configured by environment variables.
enum Invocation: Equatable {
    case run(command: [String])
    case help
    case version
    case checkConfiguration(command: [String])
    /// Deliver a storage directory's backlog, with no workload. The optional command only names
    /// the default directory, as it would for a run.
    case drain(command: [String])

    static let usage = """
        usage: spillway [--check-config] [--] COMMAND [ARGS...]
               spillway --drain [[--] COMMAND]   deliver filesystem mode's backlog, no workload
               spillway --help | --version
        """

    /// Flags come before the command; `--` ends them, and so does the first non-flag word.
    static func parse(_ arguments: [String]) -> Result<Invocation, UsageError> {
        var checkOnly = false
        var drainOnly = false
        var index = 0
        while index < arguments.count {
            let word = arguments[index]
            switch word {
            case "--": index += 1
            case "-h", "--help": return .success(.help)
            case "--version": return .success(.version)
            case "--check-config":
                checkOnly = true
                index += 1
                continue
            case "--drain":
                drainOnly = true
                index += 1
                continue
            default:
                if word.hasPrefix("-") && word.count > 1 {
                    return .failure(UsageError(message: "unknown option \(word)\n\(usage)"))
                }
            }
            break
        }
        let command = Array(arguments[index...])
        if checkOnly && drainOnly {
            return .failure(UsageError(message: "--check-config and --drain do not go together\n\(usage)"))
        }
        if checkOnly { return .success(.checkConfiguration(command: command)) }
        if drainOnly { return .success(.drain(command: command)) }
        guard !command.isEmpty else { return .failure(UsageError(message: "no command given\n\(usage)")) }
        return .success(.run(command: command))
    }
}

struct UsageError: Error, Equatable {
    var message: String
}
