/// The workload's environment: spillway's own, without the `SPILLWAY_*` variables (they hold
/// secrets). systemd socket activation passes through: when `LISTEN_PID` names spillway, its
/// `LISTEN_FDS` descriptors stay open in the child and `LISTEN_PID` is rewritten to the child's.
struct ChildEnvironment: Equatable {
    var environment: [String]
    var listenFDs: Int

    init(_ inherited: [String], ownPID: Int32) {
        func value(_ name: String) -> String? {
            inherited.first { $0.hasPrefix(name + "=") }.map { String($0.dropFirst(name.count + 1)) }
        }
        let forUs = value("LISTEN_PID").flatMap(Int32.init) == ownPID
        let listenFDs = forUs ? max(0, value("LISTEN_FDS").flatMap(Int.init) ?? 0) : 0
        self.listenFDs = listenFDs
        environment = inherited.filter { entry in
            if entry.hasPrefix("SPILLWAY_") { return false }
            // The spawner appends a LISTEN_PID the child fills in with its own pid.
            if listenFDs > 0 && entry.hasPrefix("LISTEN_PID=") { return false }
            return true
        }
    }
}
