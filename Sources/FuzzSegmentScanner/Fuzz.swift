import SpillwayDiskBuffer
import SpillwayFuzzDriver

@main
enum Main {
    static func main() { runFuzzer("FuzzSegmentScanner") { FuzzEntry.segment($0) } }
}
