import NIOCore
import NIOHTTP1
import NIOPosix
import SpillwayCore
import SpillwayEventLoop

/// What spillway takes from the ECS task metadata endpoint (v4): the task that names
/// awslogs-stream-prefix streams, the container's name, and the fields FireLens adds to records.
public struct ECSMetadata: Sendable, Equatable {
    /// TaskARN's last component.
    public var taskID: String
    public var taskARN: String
    public var cluster: String?
    /// Family:Revision, as FireLens's ecs_task_definition.
    public var taskDefinition: String?
    /// The container's Name, from `${uri}` itself.
    public var containerName: String?

    public init(taskID: String, taskARN: String = "", cluster: String? = nil, taskDefinition: String? = nil,
                containerName: String? = nil) {
        (self.taskID, self.taskARN, self.cluster, self.taskDefinition, self.containerName) =
            (taskID, taskARN, cluster, taskDefinition, containerName)
    }
}

/// Read by main before configuration is parsed, so parsing stays pure.
public enum ECSTaskMetadata {
    /// `${uri}/task` and `${uri}`, or why they give nothing usable.
    public static func fetch(uri: String, timeout: Duration = .seconds(2)) -> Result<ECSMetadata, ConfigurationError> {
        var base = uri
        while base.hasSuffix("/") { base.removeLast() }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let loop = group.next()
        let http = HTTPClient(loop: loop, connectTimeout: timeout.timeAmount, caFile: nil)
        defer { _ = try? loop.flatSubmit { http.shutdown() }.wait() }
        func get(_ url: String) -> Result<JSONValue, ConfigurationError> {
            func fail(_ why: String) -> Result<JSONValue, ConfigurationError> {
                .failure(ConfigurationError(variable: "ECS_CONTAINER_METADATA_URI_V4", message: "\(url): \(why)"))
            }
            guard let endpoint = try? HTTPEndpoint.parse(url) else { return fail("not a URL") }
            let request = HTTPRequest(method: .GET, endpoint: endpoint, headers: [("user-agent", userAgent)], body: nil)
            let response: HTTPResponse
            do {
                response = try loop.flatSubmit { http.execute(request, timeout: timeout.timeAmount, keepAlive: false) }.wait()
            } catch {
                return fail(describeHTTPError(error))
            }
            guard response.status == 200 else { return fail("HTTP \(response.status)") }
            guard let document = try? JSONValue.parse(response.body), case .object = document else { return fail("not a JSON object") }
            return .success(document)
        }
        return get(base + "/task").flatMap { task in
            guard let arn = task["TaskARN"]?.string, let id = arn.split(separator: "/").last, !id.isEmpty else {
                return .failure(ConfigurationError(variable: "ECS_CONTAINER_METADATA_URI_V4", message: "\(base)/task: no TaskARN in the answer"))
            }
            return get(base).map { container in
                let definition = task["Family"]?.string.map { family in
                    task["Revision"]?.string.map { "\(family):\($0)" } ?? family
                }
                return ECSMetadata(taskID: String(id), taskARN: arn, cluster: task["Cluster"]?.string,
                                   taskDefinition: definition, containerName: container["Name"]?.string)
            }
        }
    }
}
