import CTernShims
import Glibc

/// One keep-alive HTTP/1.1 connection: writes a finished request, reads one response.
///
/// Just enough HTTP for the control port: `Content-Length` and chunked bodies, `Connection:
/// close`, and one silent reconnect when a reused connection turns out to have been closed by
/// the server while idle (the usual keep-alive race).
final class HTTPConnection {
    struct Response {
        var status: Int
        var headers: [(name: String, value: String)]
        var body: [UInt8]
    }

    /// A response head larger than this is refused rather than buffered without end.
    static let maxHeadBytes = 64 << 10

    let host: String
    let port: UInt16
    private var fd: Int32 = -1
    private let input = ByteQueue(capacity: 16 << 10)

    init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    deinit { close() }

    func close() {
        if fd >= 0 {
            Glibc.close(fd)
            fd = -1
        }
        input.consume(input.readableCount)
    }

    func roundTrip(_ request: [UInt8], isHead: Bool, deadline: Deadline) throws -> Response {
        let reused = fd >= 0
        do {
            return try attempt(request, isHead: isHead, deadline: deadline)
        } catch TernClientError.connectionClosed(_) where reused {
            close()
            return try attempt(request, isHead: isHead, deadline: deadline)
        }
    }

    private func attempt(_ request: [UInt8], isHead: Bool, deadline: Deadline) throws -> Response {
        if fd < 0 { fd = try SocketCalls.connectTCP(host: host, port: port) }
        try writeAll(request, deadline: deadline)
        let headEnd = try readHead(deadline: deadline)
        let head = String(decoding: input.readable[..<headEnd], as: UTF8.self)
        input.consume(headEnd + 4)
        var lines = head.split(separator: "\r\n", omittingEmptySubsequences: false)
        let statusParts = lines.removeFirst().split(separator: " ", maxSplits: 2)
        guard statusParts.count >= 2, statusParts[0].hasPrefix("HTTP/1."), let status = Int(statusParts[1]) else {
            close()
            throw TernClientError.protocolViolation("bad HTTP status line: \(head.prefix(80))")
        }
        let headers = lines.compactMap { line -> (name: String, value: String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (line[..<colon].lowercased(), line[line.index(after: colon)...].trimmingSpaces())
        }
        func header(_ name: String) -> String? { headers.first { $0.name == name }?.value }

        let body: [UInt8]
        var mustClose = header("connection")?.lowercased() == "close"
        if isHead || status == 204 || status == 304 || (100..<200).contains(status) {
            body = []
        } else if header("transfer-encoding")?.lowercased().contains("chunked") == true {
            body = try readChunkedBody(deadline: deadline)
        } else if let lengthText = header("content-length") {
            guard let length = Int(lengthText), length >= 0 else {
                close()
                throw TernClientError.protocolViolation("bad Content-Length: \(lengthText)")
            }
            try fill(atLeast: length, deadline: deadline)
            body = Array(input.readable[..<length])
            input.consume(length)
        } else {
            body = try readUntilClose(deadline: deadline)
            mustClose = true
        }
        if mustClose { close() }
        return Response(status: status, headers: headers, body: body)
    }

    private func writeAll(_ bytes: [UInt8], deadline: Deadline) throws {
        var sent = 0
        while sent < bytes.count {
            let count = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            if count > 0 {
                sent += count
                continue
            }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK:
                if try SocketCalls.poll(fd, events: Int16(POLLOUT), timeoutMilliseconds: deadline.pollMilliseconds)
                    == 0,
                    deadline.hasPassed
                {
                    close()
                    throw TernClientError.timedOut("sending the HTTP request to \(host):\(port)")
                }
            case EPIPE, ECONNRESET:
                close()
                throw TernClientError.connectionClosed("control port closed the connection")
            default:
                throw TernClientError.system(call: "send", errno: errno)
            }
        }
    }

    /// Reads until `\r\n\r\n` is buffered; returns its offset.
    private func readHead(deadline: Deadline) throws -> Int {
        var searched = 0
        while true {
            if let end = find([13, 10, 13, 10], from: searched) { return end }
            searched = max(0, input.readableCount - 3)
            guard input.readableCount < Self.maxHeadBytes else {
                close()
                throw TernClientError.protocolViolation("HTTP response head exceeds \(Self.maxHeadBytes) bytes")
            }
            guard try readMore(deadline: deadline) else {
                close()
                throw TernClientError.connectionClosed("control port closed the connection before answering")
            }
        }
    }

    private func readChunkedBody(deadline: Deadline) throws -> [UInt8] {
        var body: [UInt8] = []
        while true {
            let lineEnd = try line(deadline: deadline)
            let sizeText = String(decoding: input.readable[..<lineEnd], as: UTF8.self)
            input.consume(lineEnd + 2)
            guard let size = Int(sizeText.split(separator: ";").first?.trimmingSpaces() ?? "", radix: 16) else {
                close()
                throw TernClientError.protocolViolation("bad chunk size: \(sizeText)")
            }
            if size == 0 {
                // Skip trailer fields up to the empty line that ends the message.
                while true {
                    let trailerEnd = try line(deadline: deadline)
                    input.consume(trailerEnd + 2)
                    if trailerEnd == 0 { return body }
                }
            }
            try fill(atLeast: size + 2, deadline: deadline)
            body.append(contentsOf: input.readable[..<size])
            input.consume(size + 2)
        }
    }

    private func readUntilClose(deadline: Deadline) throws -> [UInt8] {
        while try readMore(deadline: deadline) {}
        let body = Array(input.readable)
        input.consume(body.count)
        return body
    }

    /// Offset of the next `\r\n`, reading more as needed.
    private func line(deadline: Deadline) throws -> Int {
        while true {
            if let end = find([13, 10], from: 0) { return end }
            guard try readMore(deadline: deadline) else {
                close()
                throw TernClientError.connectionClosed("control port closed the connection mid-body")
            }
        }
    }

    private func fill(atLeast count: Int, deadline: Deadline) throws {
        while input.readableCount < count {
            guard try readMore(deadline: deadline) else {
                close()
                throw TernClientError.connectionClosed("control port closed the connection mid-body")
            }
        }
    }

    /// One read; false at end of stream.
    private func readMore(deadline: Deadline) throws -> Bool {
        input.reserveWritable(16 << 10)
        while true {
            let count = recv(fd, input.writablePointer, input.writableCount, 0)
            if count > 0 {
                input.didWrite(count)
                return true
            }
            if count == 0 { return false }
            switch errno {
            case EINTR: continue
            case ECONNRESET: return false
            case EAGAIN, EWOULDBLOCK:
                if try SocketCalls.poll(fd, events: Int16(POLLIN), timeoutMilliseconds: deadline.pollMilliseconds) == 0,
                    deadline.hasPassed
                {
                    close()
                    throw TernClientError.timedOut("waiting for the control port at \(host):\(port)")
                }
            default: throw TernClientError.system(call: "recv", errno: errno)
            }
        }
    }

    private func find(_ needle: [UInt8], from start: Int) -> Int? {
        let bytes = input.readable
        guard bytes.count >= needle.count else { return nil }
        var index = start
        while index + needle.count <= bytes.count {
            if bytes[index] == needle[0] && needle.indices.allSatisfy({ bytes[index + $0] == needle[$0] }) {
                return index
            }
            index += 1
        }
        return nil
    }
}

extension StringProtocol {
    func trimmingSpaces() -> String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
