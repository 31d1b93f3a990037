import SpillwaySystem

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as iSCSI (RFC 3720) and ext4 use it.
///
/// The CPU's `crc32` instruction where there is one (`HardwareCRC32C`); otherwise
/// slicing-by-16: sixteen 256-entry tables let the loop consume 16 bytes per step with
/// independent lookups (about 2.2 GB/s here; slicing-by-8 made 1.5).
enum CRC32C {
    static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        HardwareCRC32C.isAvailable ? HardwareCRC32C.checksum(bytes) : software(bytes)
    }

    static func software(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard var p = bytes.baseAddress else { return 0 }
        let t = tables.pointer
        var c: UInt32 = ~0
        var n = bytes.count
        while n >= 16 {
            let a = UInt64(littleEndian: p.loadUnaligned(as: UInt64.self)) ^ UInt64(c)
            let b = UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
            var x = t[15 * 256 + Int(a & 0xFF)] ^ t[14 * 256 + Int((a >> 8) & 0xFF)]
            x ^= t[13 * 256 + Int((a >> 16) & 0xFF)] ^ t[12 * 256 + Int((a >> 24) & 0xFF)]
            x ^= t[11 * 256 + Int((a >> 32) & 0xFF)] ^ t[10 * 256 + Int((a >> 40) & 0xFF)]
            x ^= t[9 * 256 + Int((a >> 48) & 0xFF)] ^ t[8 * 256 + Int(a >> 56)]
            x ^= t[7 * 256 + Int(b & 0xFF)] ^ t[6 * 256 + Int((b >> 8) & 0xFF)]
            x ^= t[5 * 256 + Int((b >> 16) & 0xFF)] ^ t[4 * 256 + Int((b >> 24) & 0xFF)]
            x ^= t[3 * 256 + Int((b >> 32) & 0xFF)] ^ t[2 * 256 + Int((b >> 40) & 0xFF)]
            x ^= t[1 * 256 + Int((b >> 48) & 0xFF)] ^ t[Int(b >> 56)]
            c = x
            p += 16
            n -= 16
        }
        while n > 0 {
            c = t[Int((c ^ UInt32(p.load(as: UInt8.self))) & 0xFF)] ^ (c >> 8)
            p += 1
            n -= 1
        }
        return ~c
    }

    /// Table k maps a byte to its CRC contribution k bytes further on. Allocated once and never
    /// freed: array bounds checks in the inner loop would cost a third of the speed.
    private struct Tables: @unchecked Sendable {
        let pointer: UnsafePointer<UInt32>
    }

    private static let tables: Tables = {
        let t = UnsafeMutablePointer<UInt32>.allocate(capacity: 16 * 256)
        for i in 0..<256 {
            var c = UInt32(i)
            for _ in 0..<8 { c = (c & 1) != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
            t[i] = c
        }
        for k in 1..<16 {
            for i in 0..<256 {
                let previous = t[(k - 1) * 256 + i]
                t[k * 256 + i] = (previous >> 8) ^ t[Int(previous & 0xFF)]
            }
        }
        return Tables(pointer: UnsafePointer(t))
    }()
}
