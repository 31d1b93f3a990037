import SpillwayForward
import Testing

@testable import SpillwayConfiguration

@Suite struct BalanceTests {
    @Test func defaultsKeepFailover() throws {
        let f = try parse([:]).forward
        #expect(f.balance == .failover && f.recoverWait == .seconds(10) && f.heartbeat == .transport)
        #expect(f.endpoints.map(\.weight) == [60] && f.endpoints.map(\.standby) == [false])
    }

    @Test func weightedServersWithOptions() throws {
        let c = try parse([
            "SPILLWAY_FORWARD_BALANCE": "weighted", "SPILLWAY_FORWARD_RECOVER_WAIT": "2s", "SPILLWAY_FORWARD_HEARTBEAT": "none",
            "SPILLWAY_FORWARD_ADDRESS": "tcp://agg-a:24224?weight=60,tls://agg-b:24284?weight=0&standby=false, unix:///run/c.sock?standby=TRUE",
        ])
        #expect(c.forward.balance == .weighted && c.forward.recoverWait == .seconds(2) && c.forward.heartbeat == .none)
        #expect(c.forward.endpoints == [
            ForwardEndpoint(.tcp(host: "agg-a", port: 24224), weight: 60),
            ForwardEndpoint(.tls(host: "agg-b", port: 24284), weight: 0),
            ForwardEndpoint(.unix(path: "/run/c.sock"), standby: true),
        ])
        // --check-config shows the options that differ from the defaults.
        #expect(c.forward.endpoints.map(\.description)
            == ["tcp://agg-a:24224", "tls://agg-b:24284?weight=0", "unix:///run/c.sock?standby=true"])
    }

    @Test func roundRobinTakesStandby() throws {
        let c = try parse(["SPILLWAY_FORWARD_BALANCE": "Round-Robin",
                           "SPILLWAY_FORWARD_ADDRESS": "tcp://a:1,tcp://b:2?standby=true"])
        #expect(c.forward.balance == .roundRobin && c.forward.endpoints.map(\.standby) == [false, true])
    }

    @Test(arguments: [
        ("tcp://a:1?weight=x", #"has weight "x", not a whole number from 0 to 1000000"#),
        ("tcp://a:1?weight=-1", #"has weight "-1", not a whole number from 0 to 1000000"#),
        ("tcp://a:1?weight=1000001", #"has weight "1000001""#),
        ("tcp://a:1?weight=", #"has weight """#),
        ("tcp://a:1?standby=maybe", #"has standby "maybe", not true or false"#),
        ("tcp://a:1?priority=1", #"has an unknown option "priority=1""#),
        ("tcp://a:1?weight=1&weight=2", "gives weight twice"),
        ("tcp://a:1?", #"has an unknown option """#),
    ])
    func badServerOption(_ address: String, _ why: String) throws {
        let error = try #require(parseError(["SPILLWAY_FORWARD_BALANCE": "weighted", "SPILLWAY_FORWARD_ADDRESS": address]))
        #expect(error.variable == "SPILLWAY_FORWARD_ADDRESS" && error.value == address)
        #expect(error.description.contains("weight=N (a whole number, 0 = no traffic) and standby=true or false"))
        #expect(error.description.contains("\"\(address)\" " + why))
    }

    @Test func badAddressBeforeOptionsIsAnAddressError() throws {
        let error = try #require(parseError(["SPILLWAY_FORWARD_ADDRESS": "tcp://a?weight=1"]))
        #expect(error.variable == "SPILLWAY_FORWARD_ADDRESS" && error.description.contains("needs a port"))
    }

    @Test(arguments: [
        ([:], "tcp://a:1?weight=10", "while SPILLWAY_FORWARD_BALANCE is failover"),
        ([:], "tcp://a:1,tcp://b:1?standby=true", "while SPILLWAY_FORWARD_BALANCE is failover"),
        (["SPILLWAY_FORWARD_BALANCE": "round-robin"], "tcp://a:1?weight=10", "weights need weighted"),
        (["SPILLWAY_FORWARD_BALANCE": "weighted"], "tcp://a:1?weight=0,tcp://b:1?standby=true", "at least one server that is not a standby"),
        (["SPILLWAY_FORWARD_BALANCE": "round-robin"], "tcp://a:1?standby=true", "at least one server that is not a standby"),
    ])
    func optionsThatWouldNotApply(_ env: [String: String], _ address: String, _ expected: String) throws {
        var env = env
        env["SPILLWAY_FORWARD_ADDRESS"] = address
        let error = try #require(parseError(env))
        #expect(error.variable == "SPILLWAY_FORWARD_ADDRESS" && error.value == address)
        #expect(error.description.contains(expected))
    }

    @Test func badChoicesAndDurations() throws {
        #expect(parseError(["SPILLWAY_FORWARD_BALANCE": "random"])?.description
            == #"SPILLWAY_FORWARD_BALANCE="random": expected one of failover, round-robin, weighted"#)
        #expect(parseError(["SPILLWAY_FORWARD_HEARTBEAT": "udp"])?.description
            == #"SPILLWAY_FORWARD_HEARTBEAT="udp": expected one of transport, none"#)
        #expect(parseError(["SPILLWAY_FORWARD_RECOVER_WAIT": "soon"])?.variable == "SPILLWAY_FORWARD_RECOVER_WAIT")
        #expect(try parse(["SPILLWAY_FORWARD_RECOVER_WAIT": "0s"]).forward.recoverWait == .zero)
    }

    // Docker's fluentd-address still lands in SPILLWAY_FORWARD_ADDRESS as one failover server.
    @Test func fluentdAddressLogOption() throws {
        let c = try parse(["SPILLWAY_LOG_CONFIGURATION":
            #"{"logDriver":"fluentd","options":{"fluentd-address":"agg:24225"}}"#])
        #expect(c.forward.balance == .failover && c.forward.endpoints == [.tcp(host: "agg", port: 24225)])
    }
}
