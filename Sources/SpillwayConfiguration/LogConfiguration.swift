import SpillwayCloudWatch
import SpillwayCore

// SPILLWAY_LOG_CONFIGURATION(_FILE): an ECS/Docker `logConfiguration` is translated, option by
// option (LogOptions.swift), into values of the ordinary SPILLWAY_* variables. They form a layer
// beneath the environment: a variable actually set wins. Pure: main reads the file and the ECS
// task id and passes them in.

/// What main gathers before parsing: the file's text and the ECS metadata, when there are any.
public struct LogConfigurationInputs: Sendable, Equatable {
    /// The contents of SPILLWAY_LOG_CONFIGURATION_FILE (nil: the variable is unset).
    public var fileContents: String?
    /// From ECS_CONTAINER_METADATA_URI_V4, fetched only when `needsECSMetadata` says so.
    public var ecs: ECSMetadata?

    public init(fileContents: String? = nil, ecs: ECSMetadata? = nil) {
        self.fileContents = fileContents
        self.ecs = ecs
    }
}

/// The translated variables and, for each, the option it came from (for --check-config).
struct LogConfigurationLayer: Equatable {
    /// SPILLWAY_LOG_CONFIGURATION or SPILLWAY_LOG_CONFIGURATION_FILE: what errors name.
    var variable: String
    var values: [String: String] = [:]
    /// Variable → "logConfiguration option awslogs-group" (or "container definition name").
    var origins: [String: String] = [:]
    /// Variable → the option's own name, for errors.
    var options: [String: String] = [:]

    mutating func set(_ name: String, _ value: String, option: String) {
        values[name] = value
        origins[name] = option == "name" ? "container definition name" : "logConfiguration option \(option)"
        options[name] = option
    }

    /// A value that no option gave (the ECS metadata): errors name the variable itself.
    mutating func set(_ name: String, _ value: String, origin: String) {
        values[name] = value
        origins[name] = origin
        options[name] = nil
    }
}

extension Configuration {
    static let logConfigurationVariables = ["SPILLWAY_LOG_CONFIGURATION", "SPILLWAY_LOG_CONFIGURATION_FILE"]

    /// The layer the environment's logConfiguration gives, or nil without one.
    static func logConfigurationLayer(
        environment env: [String: String], inputs: LogConfigurationInputs
    ) throws(ConfigurationError) -> LogConfigurationLayer? {
        let inline = env["SPILLWAY_LOG_CONFIGURATION"]
        let path = env["SPILLWAY_LOG_CONFIGURATION_FILE"]
        if inline != nil, path != nil {
            throw ConfigurationError(variable: "SPILLWAY_LOG_CONFIGURATION_FILE", value: path,
                                     expected: "unset, since SPILLWAY_LOG_CONFIGURATION is set (one or the other)")
        }
        let source: (variable: String, text: String)
        if let inline {
            source = ("SPILLWAY_LOG_CONFIGURATION", inline)
        } else if let path {
            guard !path.isEmpty, let contents = inputs.fileContents else {
                throw ConfigurationError(variable: "SPILLWAY_LOG_CONFIGURATION_FILE", value: path,
                                         expected: "a readable JSON file")
            }
            source = ("SPILLWAY_LOG_CONFIGURATION_FILE", contents)
        } else {
            return nil
        }
        let (variable, text) = source
        func fail(_ expected: String) -> ConfigurationError {
            ConfigurationError(variable: variable, value: variable == "SPILLWAY_LOG_CONFIGURATION" ? nil : path,
                               expected: expected)
        }
        let document: JSONValue
        do { document = try JSONValue.parse(Array(text.utf8)) } catch {
            throw fail("a JSON object (it stops being JSON at byte \(error.offset))")
        }
        let (container, logConfiguration) = try selectLogConfiguration(document, name: env["SPILLWAY_NAME"], fail: fail)
        var layer = LogConfigurationLayer(variable: variable)
        if let name = container?["name"]?.string {
            layer.set("SPILLWAY_NAME", name, option: "name")
        } else if let name = inputs.ecs?.containerName {
            layer.set("SPILLWAY_NAME", name, origin: "ECS container metadata Name")
        }
        do {
            try LogOptions.translate(logConfiguration, container: container, taskID: inputs.ecs?.taskID, environment: env, into: &layer)
        } catch {
            throw ConfigurationError(variable: "\(variable) option \(error.option)", value: error.value, expected: error.expected)
        }
        if logConfiguration["logDriver"]?.string == "awsfirelens", let ecs = inputs.ecs {
            // FireLens's Fluent Bit adds these to every record (its ECS metadata is on by default).
            let fields = [("ecs_cluster", ecs.cluster), ("ecs_task_arn", ecs.taskARN), ("ecs_task_definition", ecs.taskDefinition)]
            let labels = fields.compactMap { name, value in value.flatMap { $0.isEmpty ? nil : "\(name)=\($0)" } }
            layer.set("SPILLWAY_LABELS", labels.joined(separator: ","), origin: "ECS task metadata")
        }
        return layer
    }

    /// Whether the ECS metadata would change anything, so that main fetches it only then (an
    /// unreachable endpoint is a 125 only when it matters): a stream prefix names the task and
    /// the container unless SPILLWAY_CLOUDWATCH_STREAM is set, and a FireLens record carries the
    /// task's fields unless SPILLWAY_LABELS replaces them or the event is one field.
    public static func needsECSMetadata(environment env: [String: String], fileContents: String?) -> Bool {
        guard let uri = env["ECS_CONTAINER_METADATA_URI_V4"], !uri.isEmpty,
              let text = env["SPILLWAY_LOG_CONFIGURATION"] ?? fileContents,
              let document = try? JSONValue.parse(Array(text.utf8)),
              let (_, logConfiguration) = try? selectLogConfiguration(
                  document, name: env["SPILLWAY_NAME"], fail: { ConfigurationError(variable: "", message: $0) })
        else { return false }
        var options: [String: String] = [:]
        if case .object(let members)? = logConfiguration["options"] {
            for (key, value) in members { options[key.lowercased()] = value.string ?? "" }
        }
        let prefixed = options["awslogs-stream-prefix"] != nil || options["log_stream_prefix"] != nil
        if prefixed, env["SPILLWAY_CLOUDWATCH_STREAM"] == nil { return true }
        guard logConfiguration["logDriver"]?.string == "awsfirelens", env["SPILLWAY_LABELS"] == nil else { return false }
        let oneField = options["log_key"] != nil || env["SPILLWAY_CLOUDWATCH_MESSAGE"] != nil
        return !oneField || options["name"]?.lowercased() == "forward"
    }

    /// The bare object, a container definition's, or the task definition's container named by
    /// SPILLWAY_NAME (or its only one). Returns the container definition too, when there is one.
    private static func selectLogConfiguration(
        _ document: JSONValue, name: String?, fail: (String) -> ConfigurationError
    ) throws(ConfigurationError) -> (container: JSONValue?, logConfiguration: JSONValue) {
        guard case .object = document else { throw fail("a JSON object: a logConfiguration, a container definition or a task definition") }
        if document["logDriver"] != nil { return (nil, document) }
        var container = document
        if case .array(let containers)? = document["containerDefinitions"] {
            let names = containers.compactMap { $0["name"]?.string }
            if let name {
                guard let chosen = containers.first(where: { $0["name"]?.string == name }) else {
                    throw fail("a task definition with a container named \(name) (SPILLWAY_NAME); it has \(names.joined(separator: ", "))")
                }
                container = chosen
            } else {
                guard containers.count == 1 else {
                    throw fail("one container, or SPILLWAY_NAME naming one of \(names.joined(separator: ", "))")
                }
                container = containers[0]
            }
        }
        guard let logConfiguration = container["logConfiguration"], case .object = logConfiguration else {
            throw fail("a logConfiguration object (with logDriver), or a container or task definition that has one")
        }
        return (container, logConfiguration)
    }
}
