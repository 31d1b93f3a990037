import NIOCore
import NIOHTTP1
import NIOPosix
import SpillwayCore
import SpillwayEventLoop

/// The ECS task metadata endpoint (v4): the task id that names awslogs-stream-prefix streams.
/// Read by main before configuration is parsed, so parsing stays pure.
public enum ECSTaskMetadata {
    /// The last component of TaskARN from `${uri}/task`, or why there is none.
    public static func taskID(uri: String, timeout: Duration = .seconds(2)) -> Result<String, ConfigurationError> {
        func fail(_ why: String) -> Result<String, ConfigurationError> {
            .failure(ConfigurationError(variable: "ECS_CONTAINER_METADATA_URI_V4", message: "\(uri)/task: \(why)"))
        }
        var base = uri
        while base.hasSuffix("/") { base.removeLast() }
        let endpoint: HTTPEndpoint
        do { endpoint = try HTTPEndpoint.parse(base + "/task") } catch { return fail("not a URL") }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let loop = group.next()
        let http = HTTPClient(loop: loop, connectTimeout: timeout.timeAmount, caFile: nil)
        let request = HTTPRequest(method: .GET, endpoint: endpoint, headers: [("user-agent", userAgent)], body: nil)
        let response: HTTPResponse
        do {
            response = try loop.flatSubmit { http.execute(request, timeout: timeout.timeAmount, keepAlive: false) }.wait()
        } catch {
            _ = try? loop.flatSubmit { http.shutdown() }.wait()
            return fail(describeHTTPError(error))
        }
        _ = try? loop.flatSubmit { http.shutdown() }.wait()
        guard response.status == 200 else { return fail("HTTP \(response.status)") }
        guard let arn = (try? JSONValue.parse(response.body))?["TaskARN"]?.string,
              let id = arn.split(separator: "/").last, !id.isEmpty
        else { return fail("no TaskARN in the answer") }
        return .success(String(id))
    }
}
