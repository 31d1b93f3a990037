/// What every libFuzzer target (Sources/Fuzz*) shares: the C entry point libFuzzer calls and the
/// driver that starts it. A target is one line: `runFuzzer("FuzzX") { FuzzEntry.x($0) }`.

/// The parser under test, set once by `runFuzzer` before libFuzzer calls back.
nonisolated(unsafe) private var parse: (UnsafeRawBufferPointer) -> Void = { _ in }

/// One input from libFuzzer.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    parse(UnsafeRawBufferPointer(start: start, count: count))
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

/// scripts/fuzz builds the targets with -sanitize=fuzzer -DFUZZING; a plain `swift build` gives
/// a stub that says so.
public func runFuzzer(_ name: String, _ parser: @escaping (UnsafeRawBufferPointer) -> Void) {
    parse = parser
    #if FUZZING
    var argc = CommandLine.argc
    var argv = CommandLine.unsafeArgv
    let status = runFuzzerDriver(&argc, &argv, { fuzzOneInput($0, $1) })
    if status != 0 { fatalError("\(name): libFuzzer returned \(status)") }
    #else
    print("\(name): built without libFuzzer; run scripts/fuzz")
    #endif
}
