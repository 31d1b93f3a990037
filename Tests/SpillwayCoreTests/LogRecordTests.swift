import Testing
@testable import SpillwayCore

struct LogRecordTests {
    /// Every store, batch and read holds records by value: the field order keeps them at 64 bytes.
    @Test func aRecordTakesSixtyFourBytes() {
        #expect(MemoryLayout<LogRecord>.stride == 64)
    }
}
