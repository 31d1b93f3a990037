import SpillwayCore

extension SeccompProfile {
    /// Parses a profile document. Accepts what real Docker profiles hold (`comment`, the
    /// deprecated `name` beside `names`, `archMap` with `subArchitectures`); refuses what spillway
    /// cannot honour (`SCMP_ACT_NOTIFY`, `listenerPath`, `flags`) and every unknown field.
    public static func parse(_ bytes: [UInt8]) throws(SeccompProfileError) -> SeccompProfile {
        let document: JSONValue
        do {
            document = try JSONValue.parse(bytes)
        } catch {
            throw SeccompProfileError(path: "", "not valid JSON (at byte \(error.offset))")
        }
        var reader = Reader()
        return try reader.profile(document)
    }
}

private struct Reader {
    typealias Failure = SeccompProfileError

    func fail(_ path: String, _ message: String) -> Failure { SeccompProfileError(path: path, message) }

    func join(_ base: String, _ key: String) -> String { base.isEmpty ? key : "\(base).\(key)" }

    func object(_ value: JSONValue, _ path: String, allowed: Set<String>) throws(Failure) -> [String: JSONValue] {
        guard case .object(let members) = value else { throw fail(path.isEmpty ? "(document)" : path, "expected an object") }
        for key in members.keys.sorted() where !allowed.contains(key) {
            throw fail(join(path, key), "unknown field (expected one of \(allowed.sorted().joined(separator: ", ")))")
        }
        return members
    }

    func array(_ value: JSONValue, _ path: String) throws(Failure) -> [JSONValue] {
        guard case .array(let items) = value else { throw fail(path, "expected an array") }
        return items
    }

    func string(_ value: JSONValue, _ path: String) throws(Failure) -> String {
        guard case .string(let s) = value else { throw fail(path, "expected a string") }
        return s
    }

    func strings(_ value: JSONValue?, _ path: String) throws(Failure) -> [String] {
        guard let value, value != .null else { return [] }
        var result: [String] = []
        for (i, item) in try array(value, path).enumerated() {
            result.append(try string(item, "\(path)[\(i)]"))
        }
        return result
    }

    func unsigned(_ value: JSONValue, _ path: String, max: UInt64 = .max) throws(Failure) -> UInt64 {
        guard case .number(let text) = value, let n = UInt64(text), n <= max else {
            throw fail(path, "expected an integer from 0 to \(max)")
        }
        return n
    }

    mutating func profile(_ document: JSONValue) throws(Failure) -> SeccompProfile {
        let top = try object(document, "", allowed: [
            "defaultAction", "defaultErrnoRet", "defaultErrno", "architectures", "archMap", "syscalls", "flags",
            "listenerPath", "listenerMetadata", "comment",
        ])
        if let listener = top["listenerPath"], listener != .null, try string(listener, "listenerPath") != "" {
            throw fail("listenerPath", "a seccomp agent (SCMP_ACT_NOTIFY) is not supported by spillway")
        }
        if !(try strings(top["flags"], "flags")).isEmpty {
            throw fail("flags", "filter flags are not supported by spillway; remove them")
        }
        guard let defaultValue = top["defaultAction"] else { throw fail("defaultAction", "missing (required)") }
        let defaultErrno = try errno(top, number: "defaultErrnoRet", name: "defaultErrno", "")
        let defaultAction = try action(defaultValue, "defaultAction", errno: defaultErrno, errnoPath: "defaultErrnoRet")

        var architectures: [String] = []
        for (i, name) in try strings(top["architectures"], "architectures").enumerated() {
            architectures.append(try architecture(name, "architectures[\(i)]"))
        }
        var archMap: [SeccompProfile.ArchitectureMapping] = []
        if let map = top["archMap"], map != .null {
            for (i, item) in try array(map, "archMap").enumerated() {
                let path = "archMap[\(i)]"
                let members = try object(item, path, allowed: ["architecture", "subArchitectures", "comment"])
                guard let arch = members["architecture"] else { throw fail(join(path, "architecture"), "missing (required)") }
                let main = try architecture(try string(arch, join(path, "architecture")), join(path, "architecture"))
                var subs: [String] = []
                for (j, name) in try strings(members["subArchitectures"], join(path, "subArchitectures")).enumerated() {
                    subs.append(try architecture(name, join(path, "subArchitectures[\(j)]")))
                }
                archMap.append(.init(architecture: main, subArchitectures: subs))
            }
        }
        if !architectures.isEmpty && !archMap.isEmpty {
            throw fail("archMap", "'architectures' and 'archMap' are both set; use one of them")
        }

        var syscalls: [SeccompProfile.SyscallEntry] = []
        if let list = top["syscalls"], list != .null {
            for (i, item) in try array(list, "syscalls").enumerated() {
                syscalls.append(try syscall(item, "syscalls[\(i)]"))
            }
        }
        return SeccompProfile(defaultAction: defaultAction, architectures: architectures, archMap: archMap, syscalls: syscalls)
    }

    /// "SCMP_ARCH_X86_64" -> "x86_64", libseccomp's name.
    func architecture(_ name: String, _ path: String) throws(Failure) -> String {
        let prefix = "SCMP_ARCH_"
        guard name.hasPrefix(prefix), name.count > prefix.count else {
            throw fail(path, "expected an architecture such as SCMP_ARCH_X86_64, not \"\(ConfigurationError.escaped(name))\"")
        }
        return String(name.dropFirst(prefix.count)).lowercased()
    }

    /// The errno of an entry: `errnoRet` (a number, Docker's and runc's field) and/or `errno` (a
    /// name, as containers-common profiles add beside it); when both are there they must agree.
    func errno(_ members: [String: JSONValue], number: String, name: String, _ path: String) throws(Failure) -> UInt16? {
        var result: UInt16?
        if let e = members[number], e != .null {
            result = UInt16(try unsigned(e, join(path, number), max: 4095))
        }
        if let e = members[name], e != .null {
            let text = try string(e, join(path, name))
            guard let value = errnoNumbers[text] else {
                throw fail(join(path, name), "unknown errno name \"\(ConfigurationError.escaped(text))\" (expected one such as EPERM or ENOSYS)")
            }
            if let result, result != value {
                throw fail(join(path, name), "\(text) is \(value), but \(number) says \(result)")
            }
            result = value
        }
        return result
    }

    func action(_ value: JSONValue, _ path: String, errno: UInt16?, errnoPath: String) throws(Failure) -> SeccompAction {
        let name = try string(value, path)
        let result: SeccompAction
        switch name {
        case "SCMP_ACT_ALLOW": result = .allow
        case "SCMP_ACT_ERRNO": return .errno(errno ?? 1)  // EPERM, as runc
        case "SCMP_ACT_TRACE": return .trace(errno ?? 1)
        case "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD": result = .killThread
        case "SCMP_ACT_KILL_PROCESS": result = .killProcess
        case "SCMP_ACT_TRAP": result = .trap
        case "SCMP_ACT_LOG": result = .log
        case "SCMP_ACT_NOTIFY":
            throw fail(path, "SCMP_ACT_NOTIFY needs a seccomp agent on a listener socket, which spillway does not run")
        default:
            throw fail(path, "unknown action \"\(ConfigurationError.escaped(name))\" (expected SCMP_ACT_ALLOW, SCMP_ACT_ERRNO, "
                + "SCMP_ACT_KILL, SCMP_ACT_KILL_THREAD, SCMP_ACT_KILL_PROCESS, SCMP_ACT_TRAP, SCMP_ACT_TRACE or SCMP_ACT_LOG)")
        }
        if errno != nil { throw fail(errnoPath, "only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take an errno, not \(name)") }
        return result
    }

    func filter(_ value: JSONValue?, _ path: String) throws(Failure) -> SeccompProfile.Filter {
        guard let value, value != .null else { return .init() }
        let members = try object(value, path, allowed: ["arches", "caps", "minKernel", "comment"])
        var result = SeccompProfile.Filter()
        result.arches = try strings(members["arches"], join(path, "arches"))
        result.caps = try strings(members["caps"], join(path, "caps"))
        if let k = members["minKernel"], k != .null {
            let text = try string(k, join(path, "minKernel"))
            guard let version = KernelVersion(minKernel: text) else {
                throw fail(join(path, "minKernel"), "expected a kernel version such as \"4.8\", not \"\(ConfigurationError.escaped(text))\"")
            }
            result.minKernel = version
        }
        return result
    }

    func syscall(_ value: JSONValue, _ path: String) throws(Failure) -> SeccompProfile.SyscallEntry {
        let members = try object(value, path, allowed: [
            "names", "name", "action", "errnoRet", "errno", "args", "includes", "excludes", "comment",
        ])
        var names = try strings(members["names"], join(path, "names"))
        if let single = members["name"], single != .null {
            let name = try string(single, join(path, "name"))
            if !names.isEmpty { throw fail(join(path, "name"), "'name' and 'names' are both set; use one of them") }
            names = [name]
        }
        if names.isEmpty { throw fail(join(path, "names"), "missing or empty (at least one syscall name)") }
        for (i, name) in names.enumerated() where name.isEmpty {
            throw fail(join(path, "names[\(i)]"), "an empty syscall name")
        }
        guard let actionValue = members["action"] else { throw fail(join(path, "action"), "missing (required)") }
        let errno = try errno(members, number: "errnoRet", name: "errno", path)
        let action = try action(actionValue, join(path, "action"), errno: errno, errnoPath: join(path, "errnoRet"))
        var args: [SeccompArgument] = []
        if let list = members["args"], list != .null {
            for (i, item) in try array(list, join(path, "args")).enumerated() {
                args.append(try argument(item, join(path, "args[\(i)]")))
            }
        }
        return SeccompProfile.SyscallEntry(
            path: path, names: names, action: action, args: args,
            includes: try filter(members["includes"], join(path, "includes")),
            excludes: try filter(members["excludes"], join(path, "excludes")))
    }

    func argument(_ value: JSONValue, _ path: String) throws(Failure) -> SeccompArgument {
        let members = try object(value, path, allowed: ["index", "value", "valueTwo", "op", "comment"])
        guard let index = members["index"] else { throw fail(join(path, "index"), "missing (required)") }
        guard let op = members["op"] else { throw fail(join(path, "op"), "missing (required)") }
        let opName = try string(op, join(path, "op"))
        guard let comparison = SeccompArgument.Comparison(rawValue: opName) else {
            throw fail(join(path, "op"), "unknown comparison \"\(ConfigurationError.escaped(opName))\" (expected "
                + SeccompArgument.Comparison.allCases.map(\.rawValue).joined(separator: ", ") + ")")
        }
        let valueTwo = members["valueTwo"].flatMap { $0 == .null ? nil : $0 }
        return SeccompArgument(
            index: UInt32(try unsigned(index, join(path, "index"), max: 5)),
            value: try members["value"].map { (v) throws(Failure) in try unsigned(v, join(path, "value")) } ?? 0,
            valueTwo: try valueTwo.map { (v) throws(Failure) in try unsigned(v, join(path, "valueTwo")) } ?? 0,
            op: comparison)
    }
}
