import SpillwayConfiguration

/// One input from libFuzzer.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    FuzzEntry.environment(Array(bytes))
    return 0
}

#if FUZZING
/// libFuzzer's driver (libclang_rt.fuzzer, linked by -sanitize=fuzzer). SwiftPM renames an
/// executable's `main` and aliases it, so libFuzzer's own `main` is not the one that runs.
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ testOneInput: @convention(c) (UnsafeRawPointer?, Int) -> CInt
) -> CInt
#endif

/// scripts/fuzz builds this target with -sanitize=fuzzer -DFUZZING; a plain `swift build` gives a
/// stub that says so.
@main
enum Main {
    static func main() {
        #if FUZZING
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        let status = runFuzzerDriver(&argc, &argv, { fuzz($0, $1) })
        if status != 0 { fatalError("FuzzConfiguration: libFuzzer returned \(status)") }
        #else
        print("FuzzConfiguration: built without libFuzzer; run scripts/fuzz")
        #endif
    }
}
