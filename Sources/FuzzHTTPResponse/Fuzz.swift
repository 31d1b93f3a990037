import SpillwayCloudWatch
import SpillwayFuzzDriver

@main
enum Main {
    static func main() { runFuzzer("FuzzHTTPResponse") { FuzzEntry.httpResponse(Array($0)) } }
}
