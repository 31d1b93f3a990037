@testable import SpillwayDiskBuffer
import SpillwaySystem
import Testing

/// Both implementations: the software one always, the CPU's instruction where it exists.
private let implementations: [(String, @Sendable (UnsafeRawBufferPointer) -> UInt32)] =
    [("software", CRC32C.software)] + (HardwareCRC32C.isAvailable ? [("hardware", HardwareCRC32C.checksum)] : [])

@Suite struct CRC32CTests {
    /// RFC 3720, appendix B.4, and the common check value.
    @Test(arguments: implementations.indices)
    func knownVectors(implementation: Int) {
        let checksum = implementations[implementation].1
        func crc(_ bytes: [UInt8]) -> UInt32 { bytes.withUnsafeBytes { checksum($0) } }
        #expect(crc([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(crc([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(crc(Array(0...31)) == 0x46DD_794E)
        #expect(crc(Array((0...31).reversed())) == 0x113F_DB5C)
        let iscsiRead: [UInt8] = [
            0x01, 0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18,
            0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        ]
        #expect(crc(iscsiRead) == 0xD996_3A56)
        #expect(crc(Array("123456789".utf8)) == 0xE306_9283)
        #expect(crc([]) == 0)
    }

    /// Every length and alignment agrees with the bitwise definition (the 16-byte loop, the
    /// byte tail and their seams).
    @Test(arguments: implementations.indices)
    func agreesWithTheBitwiseDefinition(implementation: Int) {
        let (name, checksum) = implementations[implementation]
        func bitwise(_ bytes: ArraySlice<UInt8>) -> UInt32 {
            var c: UInt32 = ~0
            for byte in bytes {
                c ^= UInt32(byte)
                for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
            }
            return ~c
        }
        let data = (0..<300).map { UInt8(truncatingIfNeeded: $0 &* 167 &+ 13) }
        for start in 0..<17 {
            for end in stride(from: start, through: data.count, by: 7) {
                let slice = data[start..<end]
                #expect(slice.withUnsafeBytes { checksum($0) } == bitwise(slice), "\(name) \(start)..<\(end)")
            }
        }
    }
}
