import SpillwayCloudWatch
import SpillwayCore
import SpillwayForward

extension Configuration {
    /// What this run's records are read with; filesystem mode records it beside its segments.
    public var origin: RecordOrigin {
        RecordOrigin(fields: recordFields, tag: forward.tag, stream: cloudwatch.stream)
    }

    /// `--drain`: the configuration with the recorded origin of the backlog in place of the names
    /// and fields a drain without a workload would make up, except where the environment sets
    /// them (SPILLWAY_NAME, SPILLWAY_CONTAINER_ID, SPILLWAY_LABELS or SPILLWAY_ENV for the record
    /// fields; SPILLWAY_TAG; SPILLWAY_CLOUDWATCH_STREAM). Pure: `main` read the file.
    public func replaying(_ origin: RecordOrigin, environment: [String: String]) -> Configuration {
        var c = self
        let fieldVariables = ["SPILLWAY_NAME", "SPILLWAY_CONTAINER_ID", "SPILLWAY_LABELS", "SPILLWAY_ENV"]
        if !fieldVariables.contains(where: { environment[$0] != nil }) {
            c.name = origin.fields.containerName
            c.containerID = origin.fields.containerID
            c.labels = origin.fields.extra
            c.env = []
            c.forward.fields = c.recordFields
        }
        if environment["SPILLWAY_TAG"] == nil { c.forward.tag = origin.tag }
        if environment["SPILLWAY_CLOUDWATCH_STREAM"] == nil { c.cloudwatch.stream = origin.stream }
        return c
    }
}
