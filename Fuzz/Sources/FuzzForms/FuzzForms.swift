/// libFuzzer entry point for the control port's request decoding: form bodies and query strings
/// (`FormFields`, `PercentDecoding`), `PageRequest` and `PageToken`, paging, and the JSON the
/// paging writes. The files are TernControl's and TernClient's own, compiled here through
/// symlinks (see Package.swift); `ControlError` is a stand-in (ControlErrorStandIn.swift).
///
/// The input is used as a form body and as a query string; if it has NUL bytes, it is also cut
/// at them into the (name, value) pairs of a form that the client encodes and the server
/// decodes, and that the JSON writer writes. Any broken invariant traps, which libFuzzer
/// records as a crash.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzForms(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    // A view that ends where libFuzzer's allocation ends, so ASan sees any read past the input.
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    let text = String(decoding: bytes, as: UTF8.self)
    let fields = FormFields(encoded: bytes)
    FormCheck.compareWithReference(fields, bytes)
    _ = FormFields(query: text)  // the query string path: the same decoding over a String's bytes
    if let request = PagingCheck.request(fields) {
        PagingCheck.walk(request, keysFrom: bytes)
        PagingCheck.meta(request)
    }
    PagingCheck.token(text)
    // Inputs with a NUL byte (never in a real form) also go through the client's encoder; the
    // heavier String work stays off the many runs that only exercise decoding.
    if bytes.contains(0) {
        FormCheck.clientRoundTrip(UnsafeRawBufferPointer(rebasing: bytes.prefix(512)))
    }
    return 0
}

func check(_ condition: Bool, _ message: @autoclosure () -> String, file: StaticString = #file, line: UInt = #line) {
    if !condition { fatalError("invariant broken: \(message())", file: file, line: line) }
}

enum FormCheck {
    /// A second, plain decoding of WHATWG `application/x-www-form-urlencoded`: split at `&`, skip
    /// empty pairs, split at the first `=`, `+` is a space, `%XX` is a byte and any other `%` is
    /// itself. The first field of a name must be what `FormFields` returns for that name.
    static func compareWithReference(_ fields: FormFields, _ bytes: UnsafeRawBufferPointer) {
        var seen: [String: [UInt8]] = [:]
        var order: [String] = []
        for pair in Array(bytes).split(separator: UInt8(ascii: "&")) {
            let pair = Array(pair)
            let equals = pair.firstIndex(of: UInt8(ascii: "=")) ?? pair.endIndex
            let name = String(decoding: percentDecode(Array(pair[..<equals])), as: UTF8.self)
            let value = equals == pair.endIndex ? [] : percentDecode(Array(pair[(equals + 1)...]))
            if seen[name] == nil {
                seen[name] = value
                order.append(name)
            }
        }
        for name in order.prefix(32) {
            check(fields.value(name) == seen[name], "field \(name): \(fields.value(name) ?? []) != \(seen[name]!)")
            let text = fields.text(name)
            check(text != nil && text! == String(validating: seen[name]!, as: UTF8.self), "text of \(name) differs")
        }
        for name in ["PageSize", "Page", "PageToken", "Data", "Ttl", "UniqueName"] where seen[name] == nil {
            check(fields.value(name) == nil && fields.text(name) == nil, "absent field \(name) found")
        }
    }

    static func percentDecode(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "%"), index + 2 < bytes.count,
                let high = hexValue(bytes[index + 1]), let low = hexValue(bytes[index + 2])
            {
                out.append(high * 16 + low)
                index += 3
            } else {
                out.append(bytes[index] == UInt8(ascii: "+") ? UInt8(ascii: " ") : bytes[index])
                index += 1
            }
        }
        return out
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        let digits = Array("0123456789abcdef0123456789ABCDEF".utf8)
        return digits.firstIndex(of: byte).map { UInt8($0 % 16) }
    }

    /// The client's encoder (TernClient's FormEncoding) and the server's decoder must agree on
    /// every field the client can send: any text, names included. Pairs are cut at NUL bytes.
    static func clientRoundTrip(_ bytes: UnsafeRawBufferPointer) {
        let parts = Array(bytes).split(separator: 0, omittingEmptySubsequences: false).map {
            String(decoding: $0, as: UTF8.self)
        }
        var pairs: [(String, String)] = []
        var index = 0
        while index < parts.count {
            pairs.append((parts[index], index + 1 < parts.count ? parts[index + 1] : ""))
            index += 2
        }
        let encoded = FormEncoding.encode(pairs)
        check(encoded.utf8.allSatisfy { $0 < 0x80 && $0 != UInt8(ascii: "+") }, "encoded form is not plain ASCII")
        let decoded = FormFields(encoded: encoded.utf8)
        var seen = Set<String>()
        for (name, value) in pairs.prefix(32) where seen.insert(name).inserted {
            guard case .some(.some(let text)) = decoded.text(name) else {
                fatalError("invariant broken: client sent field \(name), server did not find it as text")
            }
            // Bytes, not `==`: String equality is canonical equivalence.
            check(text.utf8.elementsEqual(value.utf8), "field \(name): sent \(value), received \(text)")
            // Any text written by the JSON writer is valid JSON.
            let object = JSONObject.build { $0.field(name, value) }
            check(JSONObjectValidator.isObject(object), "JSONObject wrote invalid JSON for \(name): \(value)")
            let segment = FormEncoding.percentEncode(value)
            let path = PercentDecoding.decodePathSegment(Substring(segment))
            check(path.map { $0.utf8.elementsEqual(value.utf8) } == true, "path segment round trip of \(value)")
        }
    }
}

enum PagingCheck {
    /// `PageRequest(query:)` against the rules of the Twilio API as Tern documents them:
    /// `PageSize` an integer in 1...1000 (else 54454), `Page` a non-negative integer (else
    /// ignored), `PageToken` `PA` or `PB` and an unsigned 64-bit key (else 54453).
    static func request(_ fields: FormFields) -> PageRequest? {
        var expectedError: ControlError?
        var size = PageRequest.defaultSize
        var page = 0
        var token: PageToken?
        if let bytes = fields.value("PageSize") {
            if let value = integer(bytes), (1...PageRequest.maxSize).contains(value) {
                size = value
            } else {
                expectedError = .invalidPageSize
            }
        }
        if let bytes = fields.value("Page"), let value = integer(bytes), value >= 0 {
            page = value
        }
        if expectedError == nil, let bytes = fields.value("PageToken") {
            token = referenceToken(bytes)
            if token == nil { expectedError = .invalidPageToken }
        }
        do {
            let request = try PageRequest(query: fields)
            check(expectedError == nil, "PageRequest accepted, expected error \(expectedError!.code)")
            check(request == PageRequest(size: size, page: page, token: token), "PageRequest \(request)")
            return request
        } catch {
            check(error == expectedError, "PageRequest threw \(error.code), expected \(expectedError?.code ?? 0)")
            return nil
        }
    }

    /// Swift's integer grammar, written out: an optional sign, then one or more ASCII digits,
    /// the value within `Int`.
    static func integer(_ bytes: [UInt8]) -> Int? {
        var digits = bytes[...]
        var negative = false
        if let sign = digits.first, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
            negative = sign == UInt8(ascii: "-")
            digits = digits.dropFirst()
        }
        guard !digits.isEmpty else { return nil }
        var value: Int128 = 0
        for digit in digits {
            guard digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int128(digit - UInt8(ascii: "0"))
            if value > Int128(Int.max) + 1 { return nil }
        }
        let signed = negative ? -value : value
        return (Int128(Int.min)...Int128(Int.max)).contains(signed) ? Int(signed) : nil
    }

    static func referenceToken(_ bytes: [UInt8]) -> PageToken? {
        guard bytes.count > 2, bytes[0] == UInt8(ascii: "P") else { return nil }
        guard let key = unsignedKey(Array(bytes[2...])) else { return nil }
        switch bytes[1] {
        case UInt8(ascii: "A"): return .after(key)
        case UInt8(ascii: "B"): return .before(key)
        default: return nil
        }
    }

    /// A `UInt64` in Swift's integer grammar (`-0` is zero; other negatives are out of range).
    static func unsignedKey(_ bytes: [UInt8]) -> UInt64? {
        var digits = bytes[...]
        var negative = false
        if let sign = digits.first, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
            negative = sign == UInt8(ascii: "-")
            digits = digits.dropFirst()
        }
        guard !digits.isEmpty else { return nil }
        var value: UInt64 = 0
        for digit in digits {
            guard digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "9") else { return nil }
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(UInt64(digit - UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { return nil }
            value = sum
        }
        return negative && value != 0 ? nil : value
    }

    /// Whatever text `PageToken` parses, its own spelling parses back to the same token.
    static func token(_ text: String) {
        let expected = referenceToken(Array(text.utf8))
        let token = PageToken(text)
        check(
            token == expected,
            "PageToken(\(text)) = \(String(describing: token)), expected \(String(describing: expected))"
        )
        guard let token = token else { return }
        check(PageToken(token.text) == token, "PageToken.text \(token.text) does not parse back")
    }

    /// The paging promise: following `next` from the first page visits every item exactly once,
    /// in order, and following `previous` from the last page does too, backwards. The items are
    /// keys made strictly increasing from the input bytes.
    static func walk(_ request: PageRequest, keysFrom bytes: UnsafeRawBufferPointer) {
        var sorted: [UInt64] = []
        var key: UInt64 = 0
        for byte in bytes.prefix(40) {
            key += UInt64(byte) + 1
            sorted.append(key)
        }
        // The request's own token, whatever it names: a window of the list, within the size.
        let page = Page(of: sorted, request: request, key: { $0 })
        check(page.items.count <= request.size, "page of \(page.items.count) items, size \(request.size)")
        if let first = page.items.first, let start = sorted.firstIndex(of: first) {
            check(Array(sorted[start..<start + page.items.count]) == page.items, "page is not a run of the list")
        }
        var forward: [UInt64] = []
        var cursor = PageRequest(size: request.size, page: 0, token: nil)
        var lastPage = page
        for _ in 0...sorted.count {
            let page = Page(of: sorted, request: cursor, key: { $0 })
            forward += page.items
            lastPage = page
            guard let next = page.next else { break }
            check(next == .after(page.items.last!), "next token does not name the last item")
            cursor.token = next
        }
        check(forward == sorted, "walking next: \(forward) != \(sorted)")
        var backward: [UInt64] = lastPage.items
        var previous = lastPage.previous
        for _ in 0...sorted.count {
            guard let token = previous else { break }
            let page = Page(of: sorted, request: PageRequest(size: request.size, page: 0, token: token), key: { $0 })
            backward = page.items + backward
            previous = page.previous
        }
        check(backward == sorted, "walking previous: \(backward) != \(sorted)")
    }

    /// The `meta` block with the request's cursors is a JSON object.
    static func meta(_ request: PageRequest) {
        let page = Page(of: [1, 2, 3], request: request, key: { $0 })
        let object = JSONObject.build {
            $0.pagingMeta(
                listKey: "streams",
                listURL: "http://127.0.0.1/v1/Services/IS0/Streams",
                request: request,
                page: page
            )
        }
        check(JSONObjectValidator.isObject(object), "JSONObject wrote invalid JSON")
    }
}
