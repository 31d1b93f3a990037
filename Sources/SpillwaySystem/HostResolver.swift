#if canImport(Glibc)
import Glibc
#endif

/// Every address a host name resolves to, for the forward sink's balanced modes, where each is
/// a server of its own (an aggregator tier behind DNS round robin or a headless service).
public enum HostResolver {
    /// The numeric addresses of `host` (IPv4 and IPv6, in the resolver's order, without
    /// repeats); empty when it does not resolve. Blocks for as long as the lookup takes.
    public static func addresses(of host: String) -> [String] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        // getaddrinfo reports through its return value (EAI_*), not errno: nothing to retry.
        guard getaddrinfo(host, nil, &hints, &list) == 0, let first = list else { return [] }
        defer { freeaddrinfo(first) }
        var found: [String] = []
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let current = entry {
            var text = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            if let address = current.pointee.ai_addr,
               getnameinfo(address, current.pointee.ai_addrlen, &text, socklen_t(text.count), nil, 0, NI_NUMERICHOST) == 0 {
                let numeric = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                if !found.contains(numeric) { found.append(numeric) }
            }
            entry = current.pointee.ai_next
        }
        return found
    }
}
