import Testing

@testable import SpillwayCloudWatch

/// Fixed vectors: the first is the AWS SigV4 test suite's get-vanilla; the others were computed
/// once with botocore's SigV4Auth (an independent implementation) for the same request and time.
/// The integration tests also check every live request against botocore (peers/cloudwatch_strict.py).
@Suite struct SigV4Tests {
    let example = AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                 sessionToken: nil, expiration: nil)

    func sign(_ method: String, path: String, headers: [(String, String)], body: String, region: String,
              service: String, date: String, token: String? = nil) -> SigV4Signer.Signed {
        var h = headers + [("x-amz-date", date)]
        var creds = example
        if let token {
            h.append(("x-amz-security-token", token))
            creds.sessionToken = token
        }
        return SigV4Signer(region: region, service: service).sign(
            method: method, path: path, query: nil, headers: h,
            payloadHash: SigV4Signer.hexSHA256(Array(body.utf8)), amzDate: date, credentials: creds)
    }

    @Test func getVanilla() {
        let s = sign("GET", path: "/", headers: [("Host", "example.amazonaws.com")], body: "",
                     region: "us-east-1", service: "service", date: "20150830T123600Z")
        #expect(s.authorization == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
    }

    @Test func putLogEvents() {
        let body = #"{"logGroupName":"g","logStreamName":"s","logEvents":[{"timestamp":1,"message":"hi"}]}"#
        let s = sign("POST", path: "/", headers: [("host", "logs.us-east-1.amazonaws.com"),
                                                  ("content-type", "application/x-amz-json-1.1"),
                                                  ("x-amz-target", "Logs_20140328.PutLogEvents")],
                     body: body, region: "us-east-1", service: "logs", date: "20260101T100000Z")
        #expect(s.authorization == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/logs/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=ab85b6305fed5dd2c23523f0ede0a67f895b3c4ffd6322a3e0d5bbfc25f39c65")
    }

    @Test func sessionTokenWithOddCharactersAndFormatHeader() {
        let s = sign("POST", path: "/", headers: [("Host", "logs.eu-west-1.amazonaws.com"),
                                                  ("Content-Type", "application/x-amz-json-1.1"),
                                                  ("X-Amz-Target", "Logs_20140328.PutLogEvents"),
                                                  ("x-amzn-logs-format", "json/emf")],
                     body: "{}", region: "eu-west-1", service: "logs", date: "20260315T235959Z",
                     token: "IQoJb3JpZ2luX2VjE//token+with/odd==  chars")
        #expect(s.canonicalRequest.contains("x-amz-security-token:IQoJb3JpZ2luX2VjE//token+with/odd== chars\n"))
        #expect(s.authorization == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260315/eu-west-1/logs/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target;x-amzn-logs-format, Signature=ad60bedbfc988ffe28f622c1ffbc8c39efb07bace5d775b00446f48fd612d66b")
    }

    @Test func oddPathAndWhitespaceInHeaders() {
        let s = sign("POST", path: "/odd%20path/a+b/./c/../d//e~f/",
                     headers: [("Host", "127.0.0.1:4566"), ("Content-Type", "application/x-amz-json-1.1"),
                               ("X-Amz-Target", "Logs_20140328.CreateLogStream"), ("X-Custom", "  a   b\tc  "),
                               ("User-Agent", "not signed"), ("Content-Length", "7")],
                     body: #"{"x":1}"#, region: "us-west-2", service: "logs", date: "20261231T000001Z")
        #expect(s.canonicalRequest.hasPrefix("POST\n/odd%2520path/a%2Bb/d/e~f/\n\n"))
        #expect(s.authorization == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261231/us-west-2/logs/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target;x-custom, Signature=92875d5f6e880b5236fe4d577250d1e420c05ebc67216a25867e86d08f823e93")
    }

    @Test func canonicalPathRules() {
        #expect(SigV4Signer.canonicalPath("") == "/")
        #expect(SigV4Signer.canonicalPath("/") == "/")
        #expect(SigV4Signer.canonicalPath("/a/../../b") == "/b")
        #expect(SigV4Signer.canonicalPath("//a//b//") == "/a/b/")
        #expect(SigV4Signer.canonicalPath("/%E2%82%AC") == "/%25E2%2582%25AC")
        #expect(SigV4Signer.canonicalPath("/ü") == "/%C3%BC")
    }

    @Test func trimAll() {
        #expect(SigV4Signer.trimAll("  a  b \t c ") == "a b c")
        #expect(SigV4Signer.trimAll("") == "")
    }

    @Test func amzDate() {
        #expect(AWSTime.amzDate(.init(nanoseconds: 1_440_938_160_999_000_000)) == "20150830T123600Z")
    }
}
