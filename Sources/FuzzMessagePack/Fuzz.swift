import SpillwayForward
import SpillwayFuzzDriver

@main
enum Main {
    static func main() { runFuzzer("FuzzMessagePack") { FuzzEntry.receiverBytes($0) } }
}
