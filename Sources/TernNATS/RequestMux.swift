import NIOCore

/// Request/reply over one wildcard inbox subscription (`_INBOX.<random>.*`, sid 0): each request
/// gets its own token as the last subject token, and the first answer completes it.
struct RequestMux {
    private let prefix = "_INBOX." + RequestMux.randomToken()
    private var next: UInt64 = 1
    private var pending: [UInt64: EventLoopPromise<NATSMessage>] = [:]

    static func randomToken() -> String {
        let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
        return String((0..<22).map { _ in alphabet.randomElement()! })
    }

    mutating func add(_ promise: EventLoopPromise<NATSMessage>) -> UInt64 {
        let token = next
        next += 1
        pending[token] = promise
        return token
    }

    func replySubject(_ token: UInt64) -> String { "\(prefix).\(token)" }

    func subscribeInbox(sid: UInt64, into buffer: inout ByteBuffer) {
        NATSCommand.subscribe(subject: prefix + ".*", sid: sid, into: &buffer)
    }

    mutating func deliver(_ message: NATSMessage) {
        guard let dot = message.subject.lastIndex(of: "."),
            let token = UInt64(message.subject[message.subject.index(after: dot)...]),
            let promise = pending.removeValue(forKey: token)
        else { return }
        if message.headers?.status == 503 {
            promise.fail(NATSError.noResponders(message.subject))
        } else {
            promise.succeed(message)
        }
    }

    mutating func fail(_ token: UInt64, _ error: any Error) {
        pending.removeValue(forKey: token)?.fail(error)
    }

    mutating func failAll(_ error: any Error) {
        let all = pending
        pending = [:]
        for promise in all.values { promise.fail(error) }
    }
}
