import SpillwayCloudWatch
import SpillwayFuzzDriver

@main
enum Main {
    static func main() { runFuzzer("FuzzSharedConfig") { FuzzEntry.sharedConfig(Array($0)) } }
}
