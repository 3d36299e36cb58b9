/// The control port's per-connection deadlines as a pure state machine (no channel, no timer):
/// what to wait for next and what to do when the wait runs out. `ControlConnectionGuard`
/// drives it from the channel's events and one scheduled task.
struct ControlConnectionClock {
    enum Phase: Equatable {
        /// No request yet: a complete head is due within the header timeout.
        case awaitingFirstHead
        /// Between requests on a keep-alive connection.
        case idle
        /// Head received; the body is due within the request timeout.
        case readingRequest
        /// Request read; the server is answering (no deadline: that is the server's own work).
        case answering
    }

    /// What to do when the current deadline passes.
    enum Expiry: Equatable {
        /// Answer 408 (nothing has been written for this request) and close.
        case answerTimeoutAndClose
        /// Close without a word: an idle keep-alive connection, or a response already begun.
        case close
        case nothing
    }

    let limits: ControlConnectionLimits
    private(set) var phase = Phase.awaitingFirstHead
    private var requestDone = false
    private var responseDone = false
    private var responseStarted = false

    init(limits: ControlConnectionLimits) {
        self.limits = limits
    }

    /// How long the current phase may last; nil: no deadline.
    var deadline: Duration? {
        switch phase {
        case .awaitingFirstHead: return limits.headerTimeout
        case .idle: return limits.idleTimeout
        case .readingRequest: return limits.requestTimeout
        case .answering: return nil
        }
    }

    /// True when a response may still be written by someone other than the server's responder
    /// (no response for the current request has begun).
    var mayAnswer: Bool { !responseStarted }

    mutating func headReceived() {
        phase = .readingRequest
        requestDone = false
        responseDone = false
        responseStarted = false
    }

    mutating func requestEnded() {
        requestDone = true
        phase = responseDone ? .idle : .answering
    }

    mutating func responseBegan() {
        responseStarted = true
    }

    mutating func responseEnded() {
        responseDone = true
        // A response before the whole request (e.g. 401 before the body): the body still has
        // its request deadline.
        if requestDone { phase = .idle }
    }

    func expired() -> Expiry {
        switch phase {
        case .awaitingFirstHead, .readingRequest: return responseStarted ? .close : .answerTimeoutAndClose
        case .idle: return .close
        case .answering: return .nothing
        }
    }
}
