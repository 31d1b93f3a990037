import SpillwayCloudWatch
import SpillwayFuzzDriver

@main
enum Main {
    static func main() { runFuzzer("FuzzJSON") { FuzzEntry.json(Array($0)) } }
}
