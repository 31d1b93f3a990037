/// Finding text in text, compared as UTF-8 bytes: what the code needs of the String algorithms in
/// _StringProcessing, which would link that module (1.1 MB of the static binary, and its regex
/// parser) for a handful of calls on short configuration strings. `scripts/build-release` checks
/// that nothing links it.
extension StringProtocol {
    /// The first occurrence of `text`.
    public func firstRange(ofText text: some StringProtocol) -> Range<Index>? {
        let needle = Array(text.utf8)
        guard !needle.isEmpty else { return startIndex..<startIndex }
        var start = utf8.startIndex
        while start != utf8.endIndex {
            var i = start
            var matched = 0
            while matched < needle.count, i != utf8.endIndex, utf8[i] == needle[matched] {
                i = utf8.index(after: i)
                matched += 1
            }
            if matched == needle.count { return start..<i }
            start = utf8.index(after: start)
        }
        return nil
    }

    public func contains(text: some StringProtocol) -> Bool { firstRange(ofText: text) != nil }

    /// Every occurrence of `text` replaced, left to right.
    public func replacingEvery(_ text: some StringProtocol, with replacement: some StringProtocol) -> String {
        var result = ""
        var rest = self[...]
        while let found = rest.firstRange(ofText: text), !found.isEmpty {
            result += rest[..<found.lowerBound]
            result += replacement
            rest = rest[found.upperBound...]
        }
        return result + rest
    }
}
