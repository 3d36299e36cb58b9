import CLoadShims
import Glibc

/// All bench subscribers on one epoll thread: nonblocking sockets, 256 KiB reads into one shared
/// buffer, each connection's bytes walked by its broker's parser. Payloads are never copied; on
/// the few subscribers that sample, time and sequence are read from the payload head in place.
final class BenchReceiver<Parser: BenchParser>: BenchCountingSubscribers {
    private struct Subscriber {
        var fd: Int32
        var parser: Parser
        var samples: Bool
        var lastSequence: UInt64 = 0
        /// Messages received plus those DROPPED announced: what this subscriber has accounted for.
        var received: UInt64 = 0
        var isOpen = true
        var hasEnded = false
    }

    static var readChunk: Int { 256 << 10 }

    private var subscribers: [Subscriber] = []
    private let epoll: Epoll
    private let buffer: UnsafeMutableRawBufferPointer
    private var tally = ReceiverTally()

    /// Bytes read from all sockets: a cross-check on the parsers' counts (frames × frame size).
    private(set) var bytesRead: UInt64 = 0
    private(set) var endedSubscribers = 0
    private(set) var closedSubscribers = 0
    private(set) var notices: [String] = []

    init() throws {
        epoll = try Epoll()
        buffer = .allocate(byteCount: Self.readChunk, alignment: 64)
    }

    deinit {
        closeAll()
        buffer.deallocate()
    }

    var subscriberCount: Int { subscribers.count }
    var counts: BenchDeliveryCounts { tally.counts }
    /// True once every subscriber's stream has ended or its connection closed.
    var allFinished: Bool { !subscribers.isEmpty && endedSubscribers + closedSubscribers >= subscribers.count }

    func add(_ handle: BenchSocketHandle<Parser>, samples: Bool) throws {
        let index = subscribers.count
        subscribers.append(Subscriber(fd: handle.fd, parser: handle.parser, samples: samples))
        try epoll.add(handle.fd, events: EPOLLIN.rawValue, token: UInt64(index))
    }

    /// Waits up to `timeoutMilliseconds` for readable sockets and reads each once.
    func pollOnce(timeoutMilliseconds: Int32) {
        let ready = epoll.wait(timeoutMilliseconds: timeoutMilliseconds)
        for slot in 0..<ready {
            let index = Int(epoll.event(slot).token)
            if subscribers[index].isOpen { readOnce(index) }
        }
    }

    /// The fewest messages any open subscriber has accounted for (received or announced dropped):
    /// a windowed publisher's credit. O(subscribers); called once per poll in windowed runs.
    var slowestReceived: UInt64 {
        var slowest = UInt64.max
        for subscriber in subscribers where subscriber.isOpen && !subscriber.hasEnded {
            slowest = min(slowest, subscriber.received)
        }
        return slowest == .max ? 0 : slowest
    }

    /// Closes every socket at once (RST, no TIME_WAIT).
    func closeAll() {
        for index in subscribers.indices where subscribers[index].isOpen {
            LoadSocket.abort(subscribers[index].fd)
            subscribers[index].isOpen = false
        }
    }

    /// Subscribers whose connection is still open and whose stream has not ended.
    var openSubscribers: Int { subscribers.count - closedSubscribers - endedSubscribers }

    private func readOnce(_ index: Int) {
        switch LoadSocket.receive(subscribers[index].fd, into: buffer.baseAddress!, buffer.count) {
        case .bytes(let count):
            bytesRead &+= UInt64(count)
            let samples = subscribers[index].samples
            tally.now = samples ? BenchClock.now() : 0
            tally.lastSequence = subscribers[index].lastSequence
            let before = tally.counts.delivered
            let droppedBefore = tally.counts.dropped
            subscribers[index].parser.parse(UnsafeRawBufferPointer(rebasing: buffer[0..<count]), into: &tally)
            let accounted = (tally.counts.delivered &- before) &+ (tally.counts.dropped &- droppedBefore)
            subscribers[index].received &+= accounted
            if samples { subscribers[index].lastSequence = tally.lastSequence }
            if tally.counts.delivered != before { tally.counts.lastDelivery = samples ? tally.now : BenchClock.now() }
            if tally.hasEvents { handleEvents(index) }
        case .wouldBlock:
            return
        case .closed:
            close(index, notice: nil)
        case .failed(let error):
            close(index, notice: "subscriber \(index): \(BenchError(call: "recv", errno: error))")
        }
    }

    private func handleEvents(_ index: Int) {
        let events = tally.takeEvents()
        for event in events {
            switch event {
            case .reply(let bytes):
                _ = bytes.withUnsafeBytes { LoadSocket.send(subscribers[index].fd, $0.baseAddress!, $0.count) }
            case .ended:
                if !subscribers[index].hasEnded {
                    subscribers[index].hasEnded = true
                    endedSubscribers += 1
                    if endedSubscribers == 1 { notices.append("stream ended") }
                }
            case .error(let text):
                if notices.count < 20 { notices.append("subscriber \(index): \(text)") }
            case .fatal(let text):
                close(index, notice: "subscriber \(index): \(text)")
            case .ready, .dropped:
                break
            }
        }
    }

    private func close(_ index: Int, notice: String?) {
        guard subscribers[index].isOpen else { return }
        if let notice, notices.count < 20 { notices.append(notice) }
        epoll.remove(subscribers[index].fd)
        LoadSocket.abort(subscribers[index].fd)
        subscribers[index].isOpen = false
        if !subscribers[index].hasEnded { closedSubscribers += 1 }
    }
}

/// The receiver's counters, fed by the parsers. Events are rare and kept aside for the receiver.
private struct ReceiverTally: BenchSink {
    var counts = BenchDeliveryCounts()
    /// BenchClock time of the current read (sampling subscribers only).
    var now: UInt64 = 0
    /// The current subscriber's last sequence seen.
    var lastSequence: UInt64 = 0
    private var events: [BenchEvent] = []

    var hasEvents: Bool { !events.isEmpty }

    mutating func takeEvents() -> [BenchEvent] {
        defer { events.removeAll() }
        return events
    }

    @inline(__always)
    mutating func message(payloadCount: Int) {
        counts.delivered &+= 1
        counts.payloadBytes &+= UInt64(payloadCount)
    }

    mutating func payloadHead(_ head: UnsafeRawBufferPointer) {
        guard let (sent, sequence) = BenchPayload.read(head: head) else { return }
        counts.sample(sent: sent, sequence: sequence, now: now, lastSequence: &lastSequence)
    }

    mutating func event(_ event: BenchEvent) {
        if case .dropped(let count) = event { counts.dropped &+= count }
        events.append(event)
    }
}
