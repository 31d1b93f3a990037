import NIOCore
import NIOEmbedded
import SpillwayCore
import SpillwayTestKit
import Testing

@testable import SpillwayCloudWatch

@Suite struct SharedFileTests {
    let credentials = """
        # comment
        [default]
        aws_access_key_id = AKIDDEFAULT
        aws_secret_access_key=secretdefault
        ; another comment

        [work]
        AWS_ACCESS_KEY_ID = AKIDWORK
        aws_secret_access_key = secret/work+=
        aws_session_token = tok en
        """
    let config = """
        [default]
        region = eu-west-1
        [profile work]
        region = us-west-2
        aws_access_key_id = IGNORED
        s3 =
          max_concurrent_requests = 20
        output = json
        [profile web]
        role_arn = arn:aws:iam::1:role/r
        web_identity_token_file = /var/run/token
        [profile sso]
        sso_session = corp
        [sso-session corp]
        sso_region = us-east-1
        [services local]
        logs =
          endpoint_url = http://localhost
        """

    @Test func parsesBothFiles() throws {
        let c = SharedConfigFile.parse(Array(credentials.utf8), kind: .credentials)
        #expect(c.sections["default"] == ["aws_access_key_id": "AKIDDEFAULT", "aws_secret_access_key": "secretdefault"])
        #expect(c.sections["work"]?["aws_access_key_id"] == "AKIDWORK")
        #expect(c.sections["work"]?["aws_session_token"] == "tok en")
        let f = SharedConfigFile.parse(Array(config.utf8), kind: .config)
        #expect(f.sections["work"] == ["region": "us-west-2", "aws_access_key_id": "IGNORED", "output": "json"])
        #expect(f.sections["corp"] == nil && f.sections["local"] == nil)
        #expect(f.sections["sso"] == ["sso_session": "corp"])
    }

    @Test func credentialsFileWins() throws {
        let c = SharedConfigFile.parse(Array(credentials.utf8), kind: .credentials)
        let f = SharedConfigFile.parse(Array(config.utf8), kind: .config)
        let work = try #require(SharedProfile.load(name: "work", credentials: c, config: f))
        #expect(work.credentials == AWSCredentials(accessKeyID: "AKIDWORK", secretAccessKey: "secret/work+=", sessionToken: "tok en", expiration: nil))
        #expect(work.settings["region"] == "us-west-2")
        #expect(SharedProfile.load(name: "sso", credentials: c, config: f)?.unsupportedSource == "sso_session")
        #expect(SharedProfile.load(name: "missing", credentials: c, config: f) == nil)
        // Keys only in the config file still count.
        let onlyConfig = SharedConfigFile.parse(Array("[profile p]\naws_access_key_id=A\naws_secret_access_key=S\n".utf8), kind: .config)
        #expect(SharedProfile.load(name: "p", credentials: nil, config: onlyConfig)?.credentials?.accessKeyID == "A")
    }

    func files(_ map: [String: String]) -> (String) throws -> [UInt8] {
        { path in
            guard let text = map[path] else { throw CredentialsError("no such file") }
            return Array(text.utf8)
        }
    }

    func select(_ env: [String: String], files map: [String: String] = [:], metadata: Bool = true) throws -> (any CredentialProvider)? {
        try Setup.credentialProvider(env, region: "eu-west-1",
                                     metadata: metadata ? InstanceMetadata(base: try HTTPEndpoint.parse("http://169.254.169.254")) : nil,
                                     now: 1, readFile: files(map))
    }

    @Test func chainOrder() throws {
        let home = ["HOME": "/home/u"]
        let homeFiles = ["/home/u/.aws/credentials": credentials, "/home/u/.aws/config": config]
        // Environment first.
        let env = try select(home.merging(["AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "s", "AWS_SESSION_TOKEN": "t",
                                           "AWS_WEB_IDENTITY_TOKEN_FILE": "/t", "AWS_ROLE_ARN": "arn"]) { $1 }, files: homeFiles)
        #expect((env as? EnvironmentCredentials)?.credentials.sessionToken == "t")
        // Web identity next, STS regional unless AWS_ENDPOINT_URL_STS.
        let web = try select(["AWS_WEB_IDENTITY_TOKEN_FILE": "/t", "AWS_ROLE_ARN": "arn:aws:iam::1:role/r"], files: homeFiles) as? WebIdentityCredentials
        #expect(web?.endpoint.hostHeader == "sts.eu-west-1.amazonaws.com" && web?.sessionName == "spillway-1")
        let local = try select(["AWS_WEB_IDENTITY_TOKEN_FILE": "/t", "AWS_ROLE_ARN": "r", "AWS_ENDPOINT_URL_STS": "http://127.0.0.1:5000",
                                "AWS_ROLE_SESSION_NAME": "mine"]) as? WebIdentityCredentials
        #expect(local?.endpoint.hostHeader == "127.0.0.1:5000" && local?.sessionName == "mine")
        // Shared files: default profile, AWS_PROFILE, a web-identity profile.
        #expect((try select(home, files: homeFiles) as? ProfileCredentials)?.profile == "default")
        let work = try select(home.merging(["AWS_PROFILE": "work"]) { $1 }, files: homeFiles) as? ProfileCredentials
        #expect(work?.credentialsFile == "/home/u/.aws/credentials")
        let webProfile = try select(home.merging(["AWS_PROFILE": "web"]) { $1 }, files: homeFiles) as? WebIdentityCredentials
        #expect(webProfile?.tokenFile == "/var/run/token")
        let custom = try select(["AWS_SHARED_CREDENTIALS_FILE": "/c", "AWS_PROFILE": "work"], files: ["/c": credentials]) as? ProfileCredentials
        #expect(custom?.credentialsFile == "/c")
        // Container credentials.
        let relative = try select(["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/abc"]) as? ContainerCredentials
        #expect(relative?.endpoint.description == "http://169.254.170.2/v2/credentials/abc")
        let full = try select(["AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:9000/creds", "AWS_CONTAINER_AUTHORIZATION_TOKEN": "tok",
                               "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": "/tokfile"]) as? ContainerCredentials
        #expect(full?.token == "tok" && full?.tokenFile == "/tokfile" && full?.endpoint.port == 9000)
        #expect(try select(["AWS_CONTAINER_CREDENTIALS_FULL_URI": "https://creds.example.com/x"]) is ContainerCredentials)
        // Instance metadata last; nothing when it is disabled.
        #expect(try select([:]) is InstanceMetadataCredentials)
        #expect(try select([:], metadata: false) == nil)
    }

    @Test func awslogsCredentialsEndpointReplacesTheChain() throws {
        let keys = ["AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "s"]
        let agent = try Setup.credentialProvider(keys, credentialsEndpoint: "/v2/credentials/task-uuid", region: "eu-west-1",
                                                 metadata: nil, now: 1, readFile: files([:])) as? ContainerCredentials
        #expect(agent?.endpoint.description == "http://169.254.170.2/v2/credentials/task-uuid")
        #expect(agent?.token == nil)
    }

    @Test func chainErrorsNameTheVariable() throws {
        func variable(_ env: [String: String], files map: [String: String] = [:]) -> String? {
            do {
                _ = try select(env, files: map)
                return nil
            } catch let e as ConfigurationError {
                return e.variable
            } catch {
                return "\(error)"
            }
        }
        #expect(variable(["AWS_ACCESS_KEY_ID": "A"]) == "AWS_SECRET_ACCESS_KEY")
        #expect(variable(["AWS_SECRET_ACCESS_KEY": "S"]) == "AWS_ACCESS_KEY_ID")
        #expect(variable(["AWS_WEB_IDENTITY_TOKEN_FILE": "/t"]) == "AWS_ROLE_ARN")
        #expect(variable(["AWS_PROFILE": "nope", "HOME": "/h"]) == "AWS_PROFILE")
        #expect(variable(["AWS_PROFILE": "sso", "AWS_CONFIG_FILE": "/c"], files: ["/c": config]) == "AWS_PROFILE")
        #expect(variable(["AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://10.0.0.1/creds"]) == "AWS_CONTAINER_CREDENTIALS_FULL_URI")
        #expect(variable(["AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://169.254.170.23/creds"]) == nil)
        #expect(variable(["AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://[fd00:ec2::23]/creds"]) == nil)
        #expect(variable(["AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.2:80/creds"]) == nil)
        #expect(variable(["AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://localhost/creds"]) == nil)
    }

    @Test func plainHTTPHosts() {
        for ok in ["127.0.0.1", "127.1.2.3", "localhost", "::1", "169.254.170.2", "169.254.170.23", "fd00:ec2::23"] {
            #expect(ContainerCredentials.allowsPlainHTTP(to: ok))
        }
        for bad in ["10.0.0.1", "127.0.0.1.example.com", "169.254.169.254", "example.com", "128.0.0.1"] {
            #expect(!ContainerCredentials.allowsPlainHTTP(to: bad))
        }
    }

    @Test func regionAndEndpointResolution() throws {
        var o = CloudWatchSinkOptions(group: "g", stream: "s", environment: ["AWS_DEFAULT_REGION": "eu-west-1", "AWS_REGION": "us-east-2"])
        #expect(Setup.configuredRegion(o) == "us-east-2")
        o.region = "ap-south-1"
        #expect(Setup.configuredRegion(o) == "ap-south-1")
        #expect(Setup.regionalEndpoint(service: "logs", region: "cn-north-1").hostHeader == "logs.cn-north-1.amazonaws.com.cn")
        #expect(try Setup.configuredEndpoint(o) == nil)
        o.environment["AWS_ENDPOINT_URL"] = "http://127.0.0.1:1"
        o.environment["AWS_ENDPOINT_URL_CLOUDWATCH_LOGS"] = "http://127.0.0.1:2"
        #expect(try Setup.configuredEndpoint(o)?.port == 2)
        o.endpoint = "http://127.0.0.1:3/"
        #expect(try Setup.configuredEndpoint(o)?.port == 3)
        o.endpoint = nil
        o.environment["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"] = "true"
        #expect(try Setup.configuredEndpoint(o) == nil)
        o.endpoint = "logs.example.com"
        #expect(throws: ConfigurationError(variable: "SPILLWAY_CLOUDWATCH_ENDPOINT",
            message: "\"logs.example.com\" is not a usable URL (not an http:// or https:// URL); expected e.g. https://logs.us-east-1.amazonaws.com")) {
            try Setup.configuredEndpoint(o)
        }
        #expect(try Setup.metadataEndpoint(["AWS_EC2_METADATA_DISABLED": "TRUE"]) == nil)
        #expect(try Setup.metadataEndpoint([:])?.hostHeader == "169.254.169.254")
        #expect(try Setup.metadataEndpoint(["AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE": "IPv6"])?.hostHeader == "[fd00:ec2::254]")
        #expect(try Setup.metadataEndpoint(["AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:8111/"])?.port == 8111)
    }
}

/// A provider that hands out numbered temporary credentials valid for `lifetime`.
final class CountingProvider: CredentialProvider, @unchecked Sendable {
    var fetches = 0
    var fail = false
    let clock: ManualWallClock
    let lifetime: Int64
    var name: String { "counting" }

    init(clock: ManualWallClock, lifetimeSeconds: Int64) {
        self.clock = clock
        self.lifetime = lifetimeSeconds * 1_000_000_000
    }

    func fetch(_ context: ProviderContext) -> EventLoopFuture<AWSCredentials> {
        fetches += 1
        if fail { return context.loop.makeFailedFuture(CredentialsError("refused")) }
        return context.loop.makeSucceededFuture(AWSCredentials(
            accessKeyID: "AKID\(fetches)", secretAccessKey: "s", sessionToken: "t",
            expiration: Timestamp(nanoseconds: clock.time.nanoseconds + lifetime)))
    }
}

@Suite struct RefreshTests {
    @Test func policyWindows() {
        let p = RefreshPolicy()
        let t = Timestamp(nanoseconds: baseNanos)
        func at(_ minutesLeft: Int64) -> RefreshPolicy.Decision {
            p.decide(AWSCredentials(accessKeyID: "a", secretAccessKey: "s", expiration: Timestamp(nanoseconds: baseNanos + minutesLeft * 60_000_000_000)), now: t)
        }
        #expect(p.decide(nil, now: t) == .refresh)
        #expect(p.decide(AWSCredentials(accessKeyID: "a", secretAccessKey: "s"), now: t) == .use)
        #expect(at(60) == .use)
        #expect(at(15) == .useAndRefresh)
        #expect(at(6) == .useAndRefresh)
        #expect(at(5) == .refresh)
        #expect(at(-1) == .refresh)
    }

    @Test func cacheRefreshesBeforeExpiry() throws {
        let loop = EmbeddedEventLoop()
        let clock = ManualWallClock(Timestamp(nanoseconds: baseNanos))
        let provider = CountingProvider(clock: clock, lifetimeSeconds: 3600)
        let context = ProviderContext(http: HTTPClient(loop: loop, connectTimeout: .seconds(1), caFile: nil),
                                      readFile: { _ in [] }, clock: clock, timeout: .seconds(1))
        let cache = CredentialCache(provider: provider, context: context, diagnostics: RecordingDiagnostics())
        func key() throws -> String { try cache.get().wait().accessKeyID }

        #expect(try key() == "AKID1")
        clock.time.nanoseconds += 44 * 60_000_000_000  // 16 min left
        #expect(try key() == "AKID1")
        #expect(provider.fetches == 1)
        clock.time.nanoseconds += 2 * 60_000_000_000  // 14 min left: early refresh, still served the old
        #expect(try key() == "AKID1")
        #expect(provider.fetches == 2)
        #expect(try key() == "AKID2")
        // A failed early refresh keeps the current credentials until the 5-minute mark.
        provider.fail = true
        clock.time.nanoseconds += 50 * 60_000_000_000  // AKID2 has 10 min left
        #expect(try key() == "AKID2")
        clock.time.nanoseconds += 5 * 60_000_000_000  // 5 min left: must refresh, and cannot
        #expect(throws: CredentialsError.self) { try key() }
        provider.fail = false
        #expect(try key() == "AKID5")
        // An auth error from the service invalidates.
        cache.invalidate()
        #expect(try key() == "AKID6")
        try loop.syncShutdownGracefully()
    }
}
