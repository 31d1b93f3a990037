/// The AWS shared credentials and config files (INI): `[name]` sections in the credentials file,
/// `[default]` / `[profile name]` in the config file; keys are case-insensitive; `#` and `;`
/// start comment lines; indented lines after `key =` are a nested section (skipped).
struct SharedConfigFile: Equatable {
    var sections: [String: [String: String]] = [:]

    enum Kind { case credentials, config }

    static func parse(_ bytes: [UInt8], kind: Kind) -> SharedConfigFile {
        var file = SharedConfigFile()
        var current: String? = nil
        var nested = false
        for raw in String(decoding: bytes, as: UTF8.self).split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }) {
            let indented = raw.first == " " || raw.first == "\t"
            let line = raw.trimmingSpaces()
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("["), line.hasSuffix("]") {
                nested = false
                let name = line.dropFirst().dropLast().trimmingSpaces()
                current = sectionName(name, kind: kind)
                if let current, file.sections[current] == nil { file.sections[current] = [:] }
                continue
            }
            guard let section = current else { continue }
            if indented && nested { continue }
            guard let eq = line.firstIndex(where: { $0 == "=" || $0 == ":" }) else { continue }
            let key = line[..<eq].trimmingSpaces().lowercased()
            let value = line[line.index(after: eq)...].trimmingSpaces()
            nested = value.isEmpty
            if !nested { file.sections[section]![String(key)] = String(value) }
        }
        return file
    }

    /// The profile a section header names, or nil for sections that are not profiles
    /// (`[sso-session x]`, `[services x]` in the config file).
    private static func sectionName(_ name: Substring, kind: Kind) -> String? {
        switch kind {
        case .credentials:
            return String(name)
        case .config:
            if name == "default" { return "default" }
            if name.hasPrefix("profile ") || name.hasPrefix("profile\t") {
                return String(name.dropFirst(8).trimmingSpaces())
            }
            return nil
        }
    }
}

/// One profile's settings, credentials file first (as the SDKs do), then config file.
struct SharedProfile: Equatable {
    var name: String
    var settings: [String: String]

    static func load(name: String, credentials: SharedConfigFile?, config: SharedConfigFile?) -> SharedProfile? {
        let fromCredentials = credentials?.sections[name]
        let fromConfig = config?.sections[name]
        guard fromCredentials != nil || fromConfig != nil else { return nil }
        var settings = fromConfig ?? [:]
        // Keys are taken as a set from the credentials file so a key pair is never mixed.
        if let c = fromCredentials, c["aws_access_key_id"] != nil {
            for k in ["aws_access_key_id", "aws_secret_access_key", "aws_session_token"] { settings[k] = nil }
        }
        settings.merge(fromCredentials ?? [:]) { _, new in new }
        return SharedProfile(name: name, settings: settings)
    }

    /// Static keys, if the profile has them.
    var credentials: AWSCredentials? {
        guard let key = settings["aws_access_key_id"], !key.isEmpty,
              let secret = settings["aws_secret_access_key"], !secret.isEmpty else { return nil }
        let token = settings["aws_session_token"].flatMap { $0.isEmpty ? nil : $0 }
        return AWSCredentials(accessKeyID: key, secretAccessKey: secret, sessionToken: token, expiration: nil)
    }

    /// Settings that name a credential source spillway does not implement.
    var unsupportedSource: String? {
        for key in ["role_arn", "credential_process", "sso_session", "sso_start_url", "credential_source", "source_profile"]
            where settings[key] != nil {
            return key
        }
        return nil
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces, tabs and line breaks (token files end with a newline).
    func trimmingWhitespace() -> String {
        let s = Substring(self)
        guard let first = s.firstIndex(where: { !$0.isWhitespace }) else { return "" }
        return String(s[first...s.lastIndex(where: { !$0.isWhitespace })!])
    }

    func trimmingSpaces() -> Substring {
        let s = Substring(self)
        guard let first = s.firstIndex(where: { $0 != " " && $0 != "\t" }) else { return s[s.endIndex...] }
        let last = s.lastIndex(where: { $0 != " " && $0 != "\t" })!
        return s[first...last]
    }
}
