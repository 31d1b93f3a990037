import SpillwayConfiguration
import SpillwayFuzzDriver

@main
enum Main {
    static func main() { runFuzzer("FuzzConfiguration") { FuzzEntry.environment(Array($0)) } }
}
