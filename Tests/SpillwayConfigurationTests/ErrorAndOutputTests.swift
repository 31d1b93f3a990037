import Testing
import SpillwayCore
import SpillwayDiskBuffer
import SpillwayForward
@testable import SpillwayConfiguration

@Suite struct UnknownVariableTests {
    @Test(arguments: [
        ("SPILLWAY_SINC", "SPILLWAY_SINK"), ("SPILLWAY_MAX_BUFER_SIZE", "SPILLWAY_MAX_BUFFER_SIZE"),
        ("SPILLWAY_FOWARD_ADDRESS", "SPILLWAY_FORWARD_ADDRESS"), ("SPILLWAY_Sink", "SPILLWAY_SINK"),
        ("SPILLWAY_GROUP", "SPILLWAY_CLOUDWATCH_GROUP"), ("SPILLWAY_SHARED_KEY", "SPILLWAY_FORWARD_SHARED_KEY"),
        ("SPILLWAY_FORWARD_SHARED_KY", "SPILLWAY_FORWARD_SHARED_KEY"), ("SPILLWAY_FORWARD_GROUP", "SPILLWAY_CLOUDWATCH_GROUP"),
        ("SPILLWAY_CLOUDWATCH_SINK", "SPILLWAY_SINK"), ("SPILLWAY_DORP", "SPILLWAY_DROP"),
    ])
    func didYouMean(_ typo: String, _ meant: String) {
        let e = parseError([typo: "x"])
        #expect(e?.kind == .unknownVariable)
        #expect(e?.variable == typo)
        #expect(e?.description.hasPrefix("\(typo): unknown variable; did you mean \(meant)?") == true)
    }

    @Test func farMissesGetNoGuess() {
        let e = parseError(["SPILLWAY_COMPLETELY_DIFFERENT": "x"])
        #expect(e?.description == "SPILLWAY_COMPLETELY_DIFFERENT: unknown variable; spillway --help lists the variables it knows")
    }

    @Test func unknownVariableValueIsNeverShown() {
        let e = parseError(["SPILLWAY_FORWARD_SHARED_KY": "hunter2"])
        #expect(e?.value == nil)
        #expect(e?.description.contains("hunter2") == false)
    }

    @Test func prefixAloneIsUnknown() {
        #expect(parseError(["SPILLWAY_": "x"])?.kind == .unknownVariable)
    }
}

@Suite struct ErrorOrderTests {
    @Test func firstBadVariableInSortedOrderWins() {
        let env = ["SPILLWAY_SINK": "bad", "SPILLWAY_MODE": "bad", "SPILLWAY_DROP": "bad", "SPILLWAY_ZZZ": "x"]
        #expect(parseError(env)?.variable == "SPILLWAY_DROP")
        for _ in 0..<20 { #expect(parseError(env)?.variable == "SPILLWAY_DROP") }
    }

    @Test func perVariableErrorsComeBeforeCrossFieldOnes() {
        // The missing group (cross-field) would be reported too, but the bad mode comes first.
        #expect(parseError(["SPILLWAY_SINK": "cloudwatch", "SPILLWAY_MODE": "x"])?.variable == "SPILLWAY_MODE")
    }

    @Test func descriptionIsOneLine() {
        let e = parseError(["SPILLWAY_TAG": "a\nb{x}"])
        #expect(e?.description.contains("\n") == false)
        #expect(e?.description.hasPrefix(#"SPILLWAY_TAG="a\nb{x}""#) == true)
        let q = parseError(["SPILLWAY_SINK": #"a"b"#])
        #expect(q?.description.hasPrefix(#"SPILLWAY_SINK="a\"b""#) == true)
    }
}

@Suite struct SecretTests {
    static let secret = "s3cr3t-VALUE"

    @Test func secretsNeverAppearInTheDescription() throws {
        let c = try parse([
            "SPILLWAY_SINK": "forward", "SPILLWAY_FORWARD_SHARED_KEY": Self.secret,
            "SPILLWAY_FORWARD_USERNAME": "alice", "SPILLWAY_FORWARD_PASSWORD": Self.secret + "2",
        ])
        let text = c.redactedDescription()
        #expect(!text.contains(Self.secret))
        #expect(text.contains("SPILLWAY_FORWARD_SHARED_KEY=(set, redacted)"))
        #expect(text.contains("SPILLWAY_FORWARD_PASSWORD=(set, redacted)"))
        #expect(text.contains("SPILLWAY_FORWARD_USERNAME=alice"))
        let unset = try parse([:]).redactedDescription()
        #expect(unset.contains("SPILLWAY_FORWARD_SHARED_KEY=(unset)"))
    }

    @Test func secretsNeverAppearInErrors() {
        // Errors about a secret variable itself.
        let e = ConfigurationError(variable: "SPILLWAY_FORWARD_PASSWORD", value: Self.secret, expected: "x")
        #expect(e.value == "(redacted)")
        #expect(e.description == "SPILLWAY_FORWARD_PASSWORD=(redacted): expected x")
        // A cross-field error naming a secret variable.
        let pair = parseError(["SPILLWAY_FORWARD_PASSWORD": Self.secret, "SPILLWAY_FORWARD_SHARED_KEY": Self.secret])
        #expect(pair?.variable == "SPILLWAY_FORWARD_USERNAME")
        #expect(pair?.description.contains(Self.secret) == false)
        let key = parseError(["SPILLWAY_FORWARD_USERNAME": "u", "SPILLWAY_FORWARD_PASSWORD": Self.secret])
        #expect(key?.description.contains(Self.secret) == false)
    }
}

@Suite struct PurposeTests {
    @Test func drainImpliesFilesystemModeAndRefusesAnother() throws {
        let drain = try Configuration.parse(environment: [:], command: [], hostname: "h", for: .drain)
        #expect(drain.mode == .filesystem)
        #expect(throws: ConfigurationError(variable: "SPILLWAY_MODE", value: "blocking",
                                           expected: "filesystem (or unset) with --drain")) {
            try Configuration.parse(environment: ["SPILLWAY_MODE": "blocking"], command: [], hostname: "h", for: .drain)
        }
    }
}

@Suite struct OutputTests {
    @Test func descriptionListsEveryVariableOnceInOrder() throws {
        let lines = try parse([:]).redactedDescription().split(separator: "\n").map(String.init)
        #expect(lines.map { String($0.prefix { $0 != "=" }) } == Configuration.variableNames)
        #expect(Set(Configuration.variableNames).count == Configuration.variableNames.count)
    }

    @Test func descriptionShowsEffectiveDefaults() throws {
        let text = try parse([:]).redactedDescription()
        for line in [
            "SPILLWAY_SINK=console", "SPILLWAY_MODE=blocking", "SPILLWAY_MAX_BUFFER_SIZE=1m", "SPILLWAY_DROP=newest",
            "SPILLWAY_STORAGE_PATH=/var/lib/spillway/myapp", "SPILLWAY_STORAGE_LIMIT=100m",
            "SPILLWAY_STORAGE_FULL=block", "SPILLWAY_STORAGE_SYNC=normal", "SPILLWAY_NAME=myapp",
            "SPILLWAY_CONTAINER_ID=(unset)", "SPILLWAY_TAG=spillway.myapp", "SPILLWAY_MAX_LINE_SIZE=16k",
            "SPILLWAY_FLUSH_INTERVAL=1s", "SPILLWAY_SHUTDOWN_TIMEOUT=5s", "SPILLWAY_PASSTHROUGH=false",
            "SPILLWAY_LOG_LEVEL=info", "SPILLWAY_FORWARD_ADDRESS=tcp://127.0.0.1:24224",
            "SPILLWAY_FORWARD_REQUIRE_ACK=true", "SPILLWAY_FORWARD_ACK_TIMEOUT=30s", "SPILLWAY_FORWARD_COMPRESS=none",
            "SPILLWAY_FORWARD_SELF_HOSTNAME=host1", "SPILLWAY_FORWARD_TLS_CA=(unset: system roots)",
            "SPILLWAY_FORWARD_TLS_VERIFY=true", "SPILLWAY_FORWARD_CONNECT_TIMEOUT=5s",
            "SPILLWAY_FORWARD_WRITE_TIMEOUT=10s", "SPILLWAY_CLOUDWATCH_STREAM=myapp/host1",
            "SPILLWAY_CLOUDWATCH_CREATE_STREAM=true", "SPILLWAY_CLOUDWATCH_CREATE_GROUP=false",
            "SPILLWAY_CLOUDWATCH_REGION=(unset: instance metadata)",
        ] {
            #expect(text.split(separator: "\n").contains(Substring(line + "  # default")), "missing \(line)")
        }
    }

    @Test func descriptionShowsSetValues() throws {
        let text = try parse([
            "SPILLWAY_SINK": "fluentd", "SPILLWAY_LABELS": "a=1,b=2", "SPILLWAY_ENV": "V", "V": "x",
            "SPILLWAY_LOG_CONFIGURATION": "{\"logDriver\":\n\"fluentd\"}", "SPILLWAY_FORWARD_ADDRESS": "tcp://[::1]:1,unix:///s",
        ]).redactedDescription()
        #expect(text.contains("SPILLWAY_SINK=forward  # environment\n"))
        #expect(text.contains("SPILLWAY_LABELS=a=1,b=2  # environment\n"))
        #expect(text.contains("SPILLWAY_ENV=V  # environment\n"))
        #expect(text.contains("SPILLWAY_LOG_CONFIGURATION={\"logDriver\":\\n\"fluentd\"}  # environment\n"))
        #expect(text.contains("SPILLWAY_FORWARD_ADDRESS=tcp://[::1]:1,unix:///s  # environment\n"))
    }

    @Test func helpListsEveryVariableWithItsDefault() {
        let help = Configuration.helpText()
        for name in Configuration.variableNames { #expect(help.contains("  \(name) ["), "missing \(name)") }
        #expect(help.contains("SPILLWAY_SINK [console]"))
        #expect(help.contains("SPILLWAY_MAX_BUFFER_SIZE [1m]"))
        #expect(help.contains("SPILLWAY_FORWARD_ADDRESS [tcp://127.0.0.1:24224]"))
        #expect(help.contains("SPILLWAY_CLOUDWATCH_GROUP [required]"))
    }

    @Test func everyVariableParsesWhatItPrints() throws {
        // --check-config output fed back in gives the same configuration.
        let env = [
            "SPILLWAY_SINK": "forward", "SPILLWAY_MODE": "non-blocking", "SPILLWAY_MAX_BUFFER_SIZE": "3m",
            "SPILLWAY_FLUSH_INTERVAL": "1m30s", "SPILLWAY_LABELS": "a=1", "SPILLWAY_CONTAINER_ID": "c",
            "SPILLWAY_TAG": "t.{id}", "SPILLWAY_FORWARD_ADDRESS": "tls://[::1]:9,tcp://h:1",
            "SPILLWAY_CLOUDWATCH_RETENTION_DAYS": "14",
        ]
        let c = try parse(env)
        var again: [String: String] = [:]
        for line in c.redactedDescription().split(separator: "\n") {
            // Each line ends with its origin: "  # default".
            let assignment = line[..<(line.firstRange(of: "  # ")?.lowerBound ?? line.endIndex)]
            let parts = assignment.split(separator: "=", maxSplits: 1).map(String.init)
            if parts[1].hasPrefix("(unset") || parts[1].hasPrefix("(set") { continue }
            if parts[0] == "SPILLWAY_ENV" { continue }
            again[parts[0]] = parts[1]
        }
        var reread = try parse(again)
        reread.origins = c.origins  // every printed value is "environment" the second time
        #expect(reread == c)
    }
}
