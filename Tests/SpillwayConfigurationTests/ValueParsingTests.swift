import Testing
import SpillwayCore
import SpillwayDiskBuffer
import SpillwayForward
@testable import SpillwayConfiguration

@Suite struct SizeTests {
    @Test(arguments: [
        ("0", 0), ("512", 512), ("512b", 512), ("512B", 512),
        ("1k", 1024), ("1K", 1024), ("1kb", 1024), ("1KiB", 1024), ("16k", 16384),
        ("1m", 1_048_576), ("1M", 1_048_576), ("1mb", 1_048_576), ("1MB", 1_048_576), ("1mib", 1_048_576),
        ("2g", 2_147_483_648), ("2GB", 2_147_483_648), ("1.5k", 1536), ("0.5m", 524_288),
        (" 4m ", 4_194_304), ("1 m", 1_048_576), ("1 MiB", 1_048_576), ("4MB", 4_194_304),
        ("1t", 1 << 40), ("1TiB", 1 << 40), ("2p", 2 << 50),
    ])
    func accepts(_ text: String, _ bytes: Int) throws {
        #expect(try Parse.size(text) == bytes)
    }

    @Test(arguments: ["", "m", "12q", "1mm", "-1m", "+1m", "1.m", ".5m", "1x", "k1", "1e3", "1,5m", "1bb",
                      "99999999999999999999", "9999999999g"])
    func rejects(_ text: String) {
        #expect(throws: Expected.self) { try Parse.size(text) }
    }

    @Test func errorTextNamesVariableValueAndForm() {
        let e = parseError(["SPILLWAY_MAX_BUFFER_SIZE": "12q"])
        #expect(e?.description == #"SPILLWAY_MAX_BUFFER_SIZE="12q": expected a size such as 512k, 1m, 1.5m, 1 MiB or 2g (Docker's form)"#)
        #expect(e?.variable == "SPILLWAY_MAX_BUFFER_SIZE")
        #expect(e?.value == "12q")
        #expect(e?.kind == .invalid)
    }

    @Test func formatsBackCanonically() {
        #expect(formatSize(1_048_576) == "1m")
        #expect(formatSize(16384) == "16k")
        #expect(formatSize(2 << 30) == "2g")
        #expect(formatSize(1_000_000) == "1000000")
        #expect(formatSize(1536) == "1536")
        #expect(formatSize(0) == "0")
    }
}

@Suite struct DurationTests {
    @Test(arguments: [
        ("250ms", 250), ("5s", 5000), ("1m", 60_000), ("2h", 7_200_000), ("1m30s", 90_000),
        ("1.5s", 1500), ("0.25s", 250), ("5S", 5000), ("250MS", 250), (" 5s ", 5000), ("0s", 0),
        ("1h1m1s1ms", 3_661_001), ("0", 0), ("+5s", 5000), (".5s", 500), ("1.s", 1000), ("1h30m", 5_400_000),
    ])
    func accepts(_ text: String, _ ms: Int64) throws {
        #expect(try Parse.duration(text) == .milliseconds(ms))
    }

    @Test(arguments: [
        ("1.5ms", 1_500_000), ("100us", 100_000), ("100µs", 100_000), ("100μs", 100_000), ("7ns", 7),
        ("0.0001s", 100_000), ("1.0000000005s", 1_000_000_000), ("9223372036.854775807s", .max),
        ("0.0000000000000000000001h", 0),
    ])
    func acceptsGoUnitsBelowAMillisecond(_ text: String, _ ns: Int64) throws {
        #expect(try Parse.duration(text) == .nanoseconds(ns))
    }

    @Test(arguments: ["", "5", "250", "s", "5x", "5 s", "-5s", ".s", "5sec", "1d", "5s5", "+", "00",
                      "99999999999999999h", "9223372036.854775808s", "2562048h", "1h9223372036s"])
    func rejects(_ text: String) {
        #expect(throws: Expected.self) { try Parse.duration(text) }
    }

    @Test func bareNumberErrorSaysWhatToWrite() {
        let e = parseError(["SPILLWAY_FLUSH_INTERVAL": "5"])
        #expect(e?.description == #"SPILLWAY_FLUSH_INTERVAL="5": expected a duration such as 250ms, 5s, 1m30s or 1.5h (Go's form)"#)
    }

    @Test func formatsBackCanonically() {
        #expect(formatDuration(.milliseconds(250)) == "250ms")
        #expect(formatDuration(.seconds(5)) == "5s")
        #expect(formatDuration(.seconds(90)) == "90s")
        #expect(formatDuration(.seconds(120)) == "2m")
        #expect(formatDuration(.seconds(3600)) == "1h")
        #expect(formatDuration(.milliseconds(1500)) == "1500ms")
        #expect(formatDuration(.zero) == "0s")
        #expect(formatDuration(.microseconds(1500)) == "1500us")
        #expect(formatDuration(.nanoseconds(7)) == "7ns")
    }
}

@Suite struct BoolTests {
    @Test(arguments: ["true", "TRUE", "True", "1", "yes", "YES", " true "])
    func truthy(_ text: String) throws { #expect(try Parse.bool(text) == true) }

    @Test(arguments: ["false", "FALSE", "0", "no", "No"])
    func falsy(_ text: String) throws { #expect(try Parse.bool(text) == false) }

    @Test(arguments: ["", "on", "off", "2", "t", "y", "enabled"])
    func rejects(_ text: String) {
        #expect(throws: Expected.self) { try Parse.bool(text) }
    }

    @Test func errorText() {
        #expect(parseError(["SPILLWAY_SUBREAPER": "on"])?.description
            == #"SPILLWAY_SUBREAPER="on": expected true or false (also 1/0, yes/no)"#)
    }
}

@Suite struct AddressTests {
    typealias A = ForwardEndpoint

    @Test(arguments: [
        ("tcp://127.0.0.1:24224", [A.tcp(host: "127.0.0.1", port: 24224)]),
        ("tcp://fluentd:1", [.tcp(host: "fluentd", port: 1)]),
        ("TCP://fluentd.svc.cluster.local:65535", [.tcp(host: "fluentd.svc.cluster.local", port: 65535)]),
        ("tls://logs.example.com:24284", [.tls(host: "logs.example.com", port: 24284)]),
        ("tcp://[::1]:24224", [.tcp(host: "::1", port: 24224)]),
        ("tls://[2001:db8::1]:443", [.tls(host: "2001:db8::1", port: 443)]),
        ("tcp://[fe80::1%eth0]:24224", [.tcp(host: "fe80::1%eth0", port: 24224)]),
        ("tcp://[::ffff:10.0.0.1]:24224", [.tcp(host: "::ffff:10.0.0.1", port: 24224)]),
        ("unix:///var/run/fluent.sock", [.unix(path: "/var/run/fluent.sock")]),
        ("tcp://a:1,tcp://b:2", [.tcp(host: "a", port: 1), .tcp(host: "b", port: 2)]),
        (" tcp://a:1 , unix:///s ,", [.tcp(host: "a", port: 1), .unix(path: "/s")]),
    ])
    func accepts(_ text: String, _ expected: [A]) throws {
        #expect(try Parse.forwardAddresses(text) == expected)
    }

    @Test(arguments: [
        "", ",", "127.0.0.1:24224", "fluentd", "http://a:1", "tcp://", "tcp://a", "tcp://a:", "tcp://:24224",
        "tcp://a:0", "tcp://a:65536", "tcp://a:99999999", "tcp://a:-1", "tcp://a:+1", "tcp://a:1x",
        "tcp://a:1/path", "tcp://user@a:1", "tcp://::1:24224", "tcp://[::1]", "tcp://[::1:24224",
        "tcp://[zz]:1", "tcp://[zz:zz]:1", "tcp://[::1%]:1", "tcp://[1.2.3.4]:1", "tcp://[]:1",
        "unix://", "unix:///", "unix://relative.sock", "unix:relative",
        "unix:///" + String(repeating: "x", count: 107),
    ])
    func rejects(_ text: String) {
        #expect(throws: Expected.self) { try Parse.forwardAddresses(text) }
    }

    @Test func longestUnixPathFits() throws {
        let path = "/" + String(repeating: "x", count: 106)
        #expect(try Parse.forwardAddresses("unix://" + path) == [.unix(path: path)])
    }

    @Test func errorNamesTheBadEntry() {
        let e = parseError(["SPILLWAY_FORWARD_ADDRESS": "tcp://a:1,tcp://b:0"])
        #expect(e?.variable == "SPILLWAY_FORWARD_ADDRESS")
        #expect(e?.description.contains("\"tcp://b:0\" needs a port from 1 to 65535") == true)
        #expect(e?.description.contains("tcp://host:port, tls://host:port or unix:///absolute/path") == true)
    }

    @Test func printsBackAsURIs() {
        #expect(A.tcp(host: "::1", port: 24224).description == "tcp://[::1]:24224")
        #expect(A.tls(host: "h", port: 1).description == "tls://h:1")
        #expect(A.unix(path: "/s").description == "unix:///s")
    }
}

@Suite struct LevenshteinTests {
    @Test func distances() {
        #expect(Parse.levenshtein("", "") == 0)
        #expect(Parse.levenshtein("", "abc") == 3)
        #expect(Parse.levenshtein("abc", "") == 3)
        #expect(Parse.levenshtein("kitten", "sitting") == 3)
        #expect(Parse.levenshtein("SPILLWAY_SINC", "SPILLWAY_SINK") == 1)
    }
}
