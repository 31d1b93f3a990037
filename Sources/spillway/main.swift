import SpillwaySystem

// Before anything can start a thread: every thread must inherit the blocked signal mask, so that
// only the supervisor loop on this thread receives signals.
do {
    try ProcessControl.blockSignalsForSupervision()
} catch {
    StandardErrorDiagnostics.write("spillway: \(error)")
    ProcessControl.exit(125)
}

ProcessControl.exit(Launcher.run(arguments: Array(CommandLine.arguments.dropFirst())))
