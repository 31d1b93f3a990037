import SpillwayLauncher
import SpillwaySystem

// Before anything can start a thread: every thread must inherit the blocked signal mask, so that
// only the supervisor loop on this thread receives signals. And before anything writes: a write
// to a closed descriptor traps, so 0, 1 and 2 must be open.
CurrentProcess.configureMalloc()
do {
    try FileDescriptor.openNullOnClosedStandardDescriptors()
    try Signals.blockForSupervision()
} catch {
    if FileDescriptor.standardError.isOpen { StandardErrorDiagnostics.write("spillway: \(error)") }
    CurrentProcess.exit(125)
}

CurrentProcess.exit(Launcher.run(arguments: Array(CommandLine.arguments.dropFirst())))
