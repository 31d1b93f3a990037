import SpillwayCore
import Testing

@testable import SpillwayCloudWatch

@Suite struct EncodingTests {
    @Test func putLogEventsBody() throws {
        let events = [
            PlannedEvent(record: 0, offset: 0, timestamp: 1_767_261_600_123, message: ArraySlice("say \"hi\"\\ \t\u{1}é€".utf8)),
            PlannedEvent(record: 1, offset: 0, timestamp: -5, message: ArraySlice("{\"json\":true}".utf8)),
        ]
        let body = CloudWatchAPI.putLogEventsBody(group: "/ecs/app", stream: "web/host-1", events: events[...])
        let text = String(decoding: body, as: UTF8.self)
        #expect(text == #"{"logGroupName":"/ecs/app","logStreamName":"web/host-1","logEvents":[{"timestamp":1767261600123,"message":"say \"hi\"\\ \t\u0001é€"},{"timestamp":-5,"message":"{\"json\":true}"}]}"#)
        let parsed = try JSONValue.parse(body)
        guard case .array(let list)? = parsed["logEvents"] else {
            Issue.record("no logEvents")
            return
        }
        #expect(list[0]["message"]?.string == "say \"hi\"\\ \t\u{1}é€")
        #expect(list[0]["timestamp"]?.int == 1_767_261_600_123)
        #expect(list[1]["timestamp"]?.int == -5)
    }

    @Test func everyControlCharacterRoundTrips() throws {
        let all = (0..<128).map { UInt8($0) }
        var w = JSONWriter()
        w.string(ArraySlice(all))
        #expect(try JSONValue.parse(w.bytes) == .string(String(decoding: all, as: UTF8.self)))
    }

    @Test func escapesFoundAtEveryPositionOfAWord() throws {
        for b in UInt8(0)..<128 {
            for offset in 0..<17 {
                var bytes = [UInt8](repeating: UInt8(ascii: "a"), count: 24)
                bytes[offset] = b
                var w = JSONWriter()
                w.string(ArraySlice(bytes))
                #expect(try JSONValue.parse(w.bytes) == .string(String(decoding: bytes, as: UTF8.self)))
            }
        }
        #expect(!JSONWriter.needsEscape(0xC3A9_E282AC_41_5D_7F))
    }

    @Test func integers() {
        for v: Int64 in [0, 7, -1, 1_000_000, Int64.max, Int64.min + 1] {
            var w = JSONWriter()
            w.integer(v)
            #expect(String(decoding: w.bytes, as: UTF8.self) == String(v))
        }
    }

    @Test func parsesServiceAnswers() throws {
        let v = try JSONValue.parse(Array(#" {"__type":"com.amazonaws.logs#ResourceNotFoundException","message":"The specified log stream does not exist.","n":[1,2.5e3,null,true,false,{}], "u":"\u00e9\ud834\udd1e\n"} "#.utf8))
        #expect(v["__type"]?.string == "com.amazonaws.logs#ResourceNotFoundException")
        #expect(v["u"]?.string == "é𝄞\n")
        #expect(v["n"] == .array([.number("1"), .number("2.5e3"), .null, .bool(true), .bool(false), .object([:])]))
        #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse(Array("{\"a\":".utf8)) }
        #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse(Array("{} x".utf8)) }
        #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse(Array(String(repeating: "[", count: 100).utf8)) }
    }

    @Test func classifiesAnswers() {
        func c(_ status: Int, _ body: String, header: String? = nil) -> CloudWatchAPI.Answer {
            CloudWatchAPI.classify(status: status, errorTypeHeader: header, body: Array(body.utf8))
        }
        #expect(c(200, "{}") == .ok(.object([:])))
        #expect(c(200, "") == .ok(nil))
        #expect(c(200, " \r\n") == .ok(nil))
        // A 200 that is not CloudWatch's (a proxy's page) cannot count as stored.
        #expect(c(200, "<html>welcome</html>")
            == .retryable("HTTP 200 with a body that is not JSON (20 bytes): not CloudWatch Logs?"))
        #expect(c(400, #"{"__type":"com.amazonaws.logs#ResourceNotFoundException","message":"The specified log group does not exist."}"#)
            == .notFound("ResourceNotFoundException (HTTP 400): The specified log group does not exist."))
        #expect(c(400, #"{"__type":"ResourceAlreadyExistsException"}"#) == .alreadyExists)
        #expect(c(400, #"{"__type":"ExpiredTokenException","message":"expired"}"#) == .auth("ExpiredTokenException (HTTP 400): expired"))
        #expect(c(403, "", header: "UnrecognizedClientException:http://internal.amazon.com/coral/com.amazon.coral.service/")
            == .auth("UnrecognizedClientException (HTTP 403)"))
        #expect(c(400, #"{"__type":"InvalidSignatureException"}"#) == .auth("InvalidSignatureException (HTTP 400)"))
        #expect(c(400, #"{"__type":"ThrottlingException","message":"Rate exceeded"}"#) == .retryable("ThrottlingException (HTTP 400): Rate exceeded"))
        #expect(c(503, "<html>") == .retryable("HTTP 503"))
        #expect(c(400, #"{"__type":"InvalidParameterException","message":"Log event too large"}"#) == .invalid("InvalidParameterException (HTTP 400): Log event too large"))
        #expect(CloudWatchAPI.isEventTooLarge("InvalidParameterException (HTTP 400): Log event too large"))
    }

    @Test func awsTimes() {
        #expect(AWSTime.parse("2026-01-01T10:00:00Z")?.nanoseconds == baseNanos)
        #expect(AWSTime.parse("2026-01-01T10:00:00.5Z")?.nanoseconds == baseNanos + 500_000_000)
        #expect(AWSTime.parse("2026-01-01T12:00:00+02:00")?.nanoseconds == baseNanos)
        #expect(AWSTime.parse("1969-12-31T23:59:59Z")?.nanoseconds == -1_000_000_000)
        #expect(AWSTime.parse("2024-02-29T00:00:00Z")?.seconds == 1_709_164_800)
        #expect(AWSTime.parse("2026-01-01") == nil)
        #expect(AWSTime.parse("2026-13-01T00:00:00Z") == nil)
        #expect(AWSTime.parse("2026-01-01T10:00:00") == nil)
        #expect(AWSTime.amzDate(Timestamp(nanoseconds: baseNanos)) == "20260101T100000Z")
    }

    @Test func endpoints() throws {
        let a = try HTTPEndpoint.parse("https://logs.us-east-1.amazonaws.com")
        #expect(a.secure && a.port == 443 && a.path == "/" && a.hostHeader == "logs.us-east-1.amazonaws.com")
        let b = try HTTPEndpoint.parse("http://127.0.0.1:5000/base/")
        #expect(!b.secure && b.port == 5000 && b.path == "/base/" && b.hostHeader == "127.0.0.1:5000")
        let c = try HTTPEndpoint.parse("http://[::1]:8080/creds?x=1")
        #expect(c.host == "::1" && c.hostHeader == "[::1]:8080" && c.target == "/creds?x=1")
        let d = try HTTPEndpoint.parse("HTTP://example.com:80")
        #expect(d.hostHeader == "example.com")
        for bad in ["ftp://x", "http://", "http://:80", "http://h:0", "http://h:99999", "http://u@h", "logs.amazonaws.com", "http://h/a b"] {
            #expect(throws: HTTPEndpoint.Invalid.self) { try HTTPEndpoint.parse(bad) }
        }
    }

    @Test func percentEncoding() {
        #expect(PercentEncoding.encode("a b/c~d_e.f-g+h=é") == "a%20b%2Fc~d_e.f-g%2Bh%3D%C3%A9")
        #expect(PercentEncoding.encode("a/b", keepSlash: true) == "a/b")
    }

    @Test func stsResponse() {
        let xml = """
        <AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
          <AssumeRoleWithWebIdentityResult>
            <SubjectFromWebIdentityToken>amzn1.account.X</SubjectFromWebIdentityToken>
            <AssumedRoleUser><Arn>arn:aws:sts::1:assumed-role/r/s</Arn><AssumedRoleId>AROA:s</AssumedRoleId></AssumedRoleUser>
            <Credentials>
              <SessionToken>FwoGZ&amp;XIvYXdz+/=</SessionToken>
              <SecretAccessKey>wJalr/K7MDENG</SecretAccessKey>
              <Expiration>2026-01-01T11:00:00Z</Expiration>
              <AccessKeyId>ASIAEXAMPLE</AccessKeyId>
            </Credentials>
          </AssumeRoleWithWebIdentityResult>
        </AssumeRoleWithWebIdentityResponse>
        """
        #expect(XMLFields.text("AccessKeyId", in: xml, within: "Credentials") == "ASIAEXAMPLE")
        #expect(XMLFields.text("SessionToken", in: xml, within: "Credentials") == "FwoGZ&XIvYXdz+/=")
        #expect(XMLFields.text("Expiration", in: xml, within: "Credentials") == "2026-01-01T11:00:00Z")
        #expect(XMLFields.text("Arn", in: xml) == "arn:aws:sts::1:assumed-role/r/s")
        #expect(XMLFields.text("Missing", in: xml) == nil)
        let error = "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code><Message>bad &lt;token&gt; &#233;</Message></Error></ErrorResponse>"
        #expect(XMLFields.text("Code", in: error) == "InvalidIdentityToken")
        #expect(XMLFields.text("Message", in: error) == "bad <token> é")
    }

    @Test func credentialsJSONAndRedaction() throws {
        let json = #"{"Code":"Success","AccessKeyId":"ASIAXYZ","SecretAccessKey":"secret!","Token":"tok","Expiration":"2026-01-01T10:00:00Z"}"#
        let c = try #require(AWSCredentials.fromJSON(Array(json.utf8)))
        #expect(c.accessKeyID == "ASIAXYZ" && c.secretAccessKey == "secret!" && c.sessionToken == "tok")
        #expect(c.expiration?.nanoseconds == baseNanos)
        #expect(!"\(c)".contains("secret!") && !"\(c)".contains("tok") && !"\(c)".contains("ASIAXYZ"))
        #expect(AWSCredentials.fromJSON(Array(#"{"AccessKeyId":"A"}"#.utf8)) == nil)
        #expect(AWSCredentials.fromJSON(Array(#"{"AccessKeyId":"A","SecretAccessKey":"S","Expiration":"soon"}"#.utf8)) == nil)
    }
}
