import Foundation
import Glibc

/// One publisher: its own connection on its own thread, writing batches of messages as fast as
/// the broker takes them, or evenly paced at `rate`, round-robin over its streams.
///
/// Each message is the broker's framing around a bench payload; the framed images are built
/// once, so a batch costs one copy per message plus patching its time and sequence in place.
/// Messages written together are stamped together, just before the batch is written: they leave
/// together, so one timestamp per batch measures what one per message would.
struct BenchPublisher<Parser: BenchParser>: Sendable {
    var handle: BenchPublisherHandle<Parser>
    var payloadSize: Int
    var durationNanoseconds: UInt64
    /// Messages per second for this publisher; nil publishes as fast as possible.
    var rate: Double?
    /// Lossless runs: at most this many messages per stream beyond what the slowest subscriber has
    /// received (`BenchProgress.slowestReceived`, the credit); nil = no window.
    var windowMessages: Int?
    /// The CPU this publisher's thread is pinned to; nil: the scheduler's choice.
    var cpu: Int?
    /// Bytes of messages per write when unpaced.
    var batchBytes = 128 << 10
    /// How long one batch may wait for the socket before the bench gives up on the broker.
    static var stallLimitNanoseconds: UInt64 { 10_000_000_000 }

    func start(progress: BenchProgress, index: Int) {
        progress.publishersRunning.add(1, ordering: .releasing)
        progress.publishersPublishing.add(1, ordering: .releasing)
        let thread = Thread { run(progress: progress) }
        thread.name = "bench-pub-\(index)"
        thread.start()
    }

    private func run(progress: BenchProgress) {
        defer { progress.publishersRunning.subtract(1, ordering: .releasing) }
        PacingPrecision.request()
        do {
            if let cpu { try CPUPlacement.pinCurrentThread(to: cpu) }
            try publish(progress: progress)
        } catch {
            progress.failure.withLock { $0 = $0 ?? "\(error)" }
        }
    }

    private func publish(progress: BenchProgress) throws {
        // Images and buffers are made before the clock starts, not inside the measured time.
        var loop = PublisherLoop(self)
        defer { loop.close() }
        var start = progress.startNanoseconds.load(ordering: .acquiring)
        while start == 0 && !progress.stopRequested.load(ordering: .relaxed) {
            MonotonicClock.sleep(nanoseconds: 100_000)
            start = progress.startNanoseconds.load(ordering: .acquiring)
        }
        loop.begin(at: start)
        var publishing = true
        func finishPublishing() {
            guard publishing else { return }
            publishing = false
            progress.endNanoseconds.store(BenchClock.now(), ordering: .relaxed)
            progress.publishersPublishing.subtract(1, ordering: .releasing)
        }
        defer { finishPublishing() }
        stepping: while true {
            switch try loop.step(progress: progress) {
            case .wrote: continue
            case .idle(let nanoseconds): MonotonicClock.sleep(nanoseconds: nanoseconds)
            case .finished: break stepping
            }
        }
        finishPublishing()
        // Keep the connection until the receiver is done: an abort (RST) now would discard what
        // the broker has not read yet, and a slower broker would look lossy. Bounded by the
        // receiver's drain, which sets `stopRequested`.
        while !progress.stopRequested.load(ordering: .relaxed) {
            guard (try? loop.readAvailable(progress: progress)) != nil else { break }
            MonotonicClock.sleep(nanoseconds: 1_000_000)
        }
    }
}

/// A publisher's loop as steps: its thread sleeps between them, and an inline publisher
/// (`BenchInlinePublisher`) takes one per pass of a spinning receiver instead. Not copyable: it
/// owns the images, the batch buffer and the read buffer, which `close` frees once.
struct PublisherLoop<Parser: BenchParser>: ~Copyable {
    enum Step {
        /// A batch went out.
        case wrote
        /// Nothing is due (pacing) or allowed (window) yet: this long is worth waiting.
        case idle(nanoseconds: UInt64)
        /// The duration is over or the receiver asked to stop.
        case finished
    }

    private let publisher: BenchPublisher<Parser>
    private let images: FramedImages
    private let maxBatch: Int
    private let buffer: UnsafeMutableRawPointer
    private var connection: Incoming<Parser>
    private var sequences: [UInt64]
    private var nextStream = 0
    private var creditWait: UInt64 = 20_000
    private var start: UInt64 = 0
    private var end: UInt64 = 0
    private var sent: UInt64 = 0
    private var closed = false
    /// Reads what the broker sent after each write; an inline publisher reads when idle instead,
    /// keeping the call off the way from a message's stamp to its readers.
    var readsAfterWrite = true

    /// Ready to publish from `begin(at:)` on.
    init(_ publisher: BenchPublisher<Parser>) {
        self.publisher = publisher
        images = FramedImages(
            templates: publisher.handle.templates,
            payload: BenchPayload.template(size: publisher.payloadSize)
        )
        maxBatch = max(1, publisher.batchBytes / images.largest)
        buffer = .allocate(byteCount: maxBatch * images.largest, alignment: 64)
        connection = Incoming(fd: publisher.handle.socket.fd, parser: publisher.handle.socket.parser)
        sequences = [UInt64](repeating: 0, count: images.count)
    }

    /// Publishing starts at `start` (BenchClock) and lasts the publisher's duration.
    mutating func begin(at start: UInt64) {
        self.start = start
        end = start + publisher.durationNanoseconds
    }

    /// Frees the buffers and aborts the connection; once.
    mutating func close() {
        guard !closed else { return }
        closed = true
        images.deallocate()
        buffer.deallocate()
        connection.deallocate()
        LoadSocket.abort(publisher.handle.socket.fd)
    }

    mutating func readAvailable(progress: BenchProgress) throws {
        try connection.readAvailable(progress: progress)
    }

    mutating func step(progress: BenchProgress) throws -> Step {
        if progress.stopRequested.load(ordering: .relaxed) { return .finished }
        var now = BenchClock.now()
        if now >= end { return .finished }
        var batch = maxBatch
        if let rate = publisher.rate {
            let due = UInt64(Double(now - start) / 1e9 * rate) + 1
            if due <= sent {
                let nextDue = start + UInt64(Double(sent) / rate * 1e9)
                return .idle(nanoseconds: min(max(nextDue &- now, 1_000), 1_000_000))
            }
            batch = min(maxBatch, Int(due - sent))
            now = BenchClock.now()
        }
        if let windowMessages = publisher.windowMessages {
            // Round-robin: no stream has more than ceil(sent / streams) messages.
            let perStream = (sent + UInt64(images.count) - 1) / UInt64(images.count)
            let credit = Int(progress.slowestReceived.load(ordering: .acquiring)) + windowMessages - Int(perStream)
            // Wait for a sixteenth of the window, not one message, and back off while waiting:
            // a publisher waking every 20 µs for a trickle of credit took a third of the core it
            // shares with the receiver (perf: timer interrupts and task switches).
            if credit < max(1, windowMessages / 16) {
                let wait = creditWait
                creditWait = min(creditWait * 2, 160_000)
                try connection.readAvailable(progress: progress)
                return .idle(nanoseconds: wait)
            }
            creditWait = 20_000
            batch = min(batch, credit * images.count)
            now = BenchClock.now()
        }
        var length = 0
        for _ in 0..<batch {
            sequences[nextStream] += 1
            length += images.write(
                stream: nextStream,
                sentNanoseconds: now,
                sequence: sequences[nextStream],
                to: buffer + length
            )
            nextStream += 1
            if nextStream == images.count { nextStream = 0 }
        }
        try connection.write(UnsafeRawBufferPointer(start: buffer, count: length), progress: progress)
        sent += UInt64(batch)
        progress.published.add(UInt64(batch), ordering: .relaxed)
        if readsAfterWrite { try connection.readAvailable(progress: progress) }
        return .wrote
    }
}

/// Per stream, the complete framed message (prefix, payload template, suffix), back to back.
private struct FramedImages {
    let storage: UnsafeMutableRawPointer
    let offsets: [Int]
    let sizes: [Int]
    /// Offset of the payload within each image.
    let payloadOffsets: [Int]
    let largest: Int

    var count: Int { sizes.count }

    init(templates: [BenchMessageTemplate], payload: [UInt8]) {
        sizes = templates.map { $0.overhead + payload.count }
        payloadOffsets = templates.map(\.prefix.count)
        var running = 0
        offsets = sizes.map { size in
            defer { running += size }
            return running
        }
        largest = sizes.max() ?? 1
        storage = .allocate(byteCount: max(running, 1), alignment: 16)
        for (index, template) in templates.enumerated() {
            let image = template.prefix + payload + template.suffix
            image.withUnsafeBytes { (storage + offsets[index]).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        }
    }

    func deallocate() { storage.deallocate() }

    /// Copies stream `stream`'s image to `destination`, stamped; returns its size.
    @inline(__always)
    func write(stream: Int, sentNanoseconds: UInt64, sequence: UInt64, to destination: UnsafeMutableRawPointer) -> Int {
        let size = sizes[stream]
        destination.copyMemory(from: storage + offsets[stream], byteCount: size)
        let payload = destination + payloadOffsets[stream]
        BenchPayload.writeHex(
            sentNanoseconds,
            width: BenchPayload.timestampWidth,
            to: payload + BenchPayload.timestampOffset
        )
        BenchPayload.writeHex(sequence, width: BenchPayload.sequenceWidth, to: payload + BenchPayload.sequenceOffset)
        return size
    }
}

/// The publisher's socket: batches out, and what the broker says back (refusals, PINGs, Redis's
/// one reply per PUBLISH) read and counted so it never backs up.
private struct Incoming<Parser: BenchParser> {
    let fd: Int32
    var parser: Parser
    var sink = PublisherSink()
    /// Freed by the publisher loop's owner via `deallocate()`.
    private let readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 16)

    init(fd: Int32, parser: Parser) {
        self.fd = fd
        self.parser = parser
    }

    func deallocate() { readBuffer.deallocate() }

    mutating func write(_ bytes: UnsafeRawBufferPointer, progress: BenchProgress) throws {
        var sent = 0
        var stalledSince: UInt64 = 0
        while sent < bytes.count {
            switch LoadSocket.send(fd, bytes.baseAddress! + sent, bytes.count - sent) {
            case .bytes(let count):
                sent += count
                stalledSince = 0
                continue
            case .wouldBlock:
                break
            case .closed:
                throw BenchError("the broker closed the publisher's connection")
            case .failed(let error):
                throw BenchError(call: "publisher send", errno: error)
            }
            let now = MonotonicClock.nanoseconds()
            if stalledSince == 0 { stalledSince = now }
            if now - stalledSince > BenchPublisher<Parser>.stallLimitNanoseconds {
                throw BenchError("the broker took nothing from the publisher for 10 s")
            }
            if progress.stopRequested.load(ordering: .relaxed) { throw BenchError("stopped while writing") }
            let ready = LoadSocket.poll(fd, for: Int16(POLLOUT) | Int16(POLLIN), milliseconds: 10)
            if ready & Int16(POLLIN) != 0 { try readOnce(progress: progress) }
        }
        try sendReplies()
    }

    mutating func readAvailable(progress: BenchProgress) throws {
        while try readOnce(progress: progress) {}
        try sendReplies()
    }

    /// One nonblocking read; false when nothing was there.
    @discardableResult
    private mutating func readOnce(progress: BenchProgress) throws -> Bool {
        let count: Int
        switch LoadSocket.receive(fd, into: readBuffer.baseAddress!, readBuffer.count) {
        case .bytes(let received): count = received
        case .wouldBlock: return false
        case .closed: throw BenchError("the broker closed the publisher's connection")
        case .failed(let error): throw BenchError(call: "publisher recv", errno: error)
        }
        sink.errors = 0
        parser.parse(UnsafeRawBufferPointer(rebasing: readBuffer[0..<count]), into: &sink)
        if sink.errors > 0 { progress.publishErrors.add(sink.errors, ordering: .relaxed) }
        if let fatal = sink.fatal { throw BenchError("broker error on the publisher: \(fatal)") }
        return true
    }

    /// PONGs owed to the broker, sent between batches (never inside one).
    private mutating func sendReplies() throws {
        guard !sink.replies.isEmpty else { return }
        let replies = sink.replies
        sink.replies.removeAll()
        try LoadSocket.writeAll(fd, replies, deadline: LoadSocket.deadline(after: 10))
    }
}

private struct PublisherSink: BenchSink {
    var errors: UInt64 = 0
    var replies: [UInt8] = []
    var fatal: String?
    var firstError: String?

    mutating func message(payloadCount: Int) {}
    mutating func payloadHead(_ head: UnsafeRawBufferPointer) {}
    mutating func event(_ event: BenchEvent) {
        switch event {
        case .reply(let bytes): replies += bytes
        case .error(let text):
            errors += 1
            if firstError == nil { firstError = text }
        case .fatal(let text): fatal = text
        case .ready, .dropped, .ended: break
        }
    }
}

/// Asks the kernel for precise sleeps on this thread (timer slack 1 µs instead of 50 µs), so a
/// paced publisher's gaps are what it asked for. Best effort: /proc may not allow it.
enum PacingPrecision {
    static func request() {
        let fd = open("/proc/thread-self/timerslack_ns", O_WRONLY)
        guard fd >= 0 else { return }
        _ = "1000".withCString { write(fd, $0, 4) }
        close(fd)
    }
}
