import CTernShims
import Glibc
import Histogram
import TernWire

/// All bench subscribers on one epoll thread: nonblocking sockets, 256 KiB reads into one shared
/// buffer, and frames counted by walking their headers. Payloads are never copied; on the few
/// subscribers that sample latency, the 20 timestamp digits are read in place.
///
/// A frame cut by the end of a read is handled without buffering it: a MESSAGE whose needed
/// prefix (header, plus the timestamp on sampling subscribers) is in the read just leaves a count
/// of body bytes to skip; a shorter remainder is carried (a few dozen bytes) and put in front of
/// the next read, in the buffer's headroom.
final class FanoutReceiver {
    private struct Subscriber {
        var fd: Int32
        var samplesLatency: Bool
        /// Body bytes of the current MESSAGE still to skip.
        var skip = 0
        /// The start of a frame cut by the end of the previous read.
        var carry: [UInt8] = []
        var isOpen = true
        var hasEnded = false
    }

    static let readChunk = 256 << 10
    /// Room in front of each read for carried bytes; also the largest non-MESSAGE frame accepted.
    static let headroom = 64 << 10
    private static let maxEvents: Int32 = 1024
    /// Bytes of a MESSAGE up to the end of the timestamp digits.
    private static let latencyPrefix = MessageFrame.prefixSize + FanoutPayload.timestampOffset
        + FanoutPayload.timestampWidth

    private var subscribers: [Subscriber] = []
    private let epollFD: Int32
    private let buffer: UnsafeMutableRawPointer
    private let events: UnsafeMutablePointer<epoll_event>

    private(set) var delivered: UInt64 = 0
    private(set) var deliveredPayloadBytes: UInt64 = 0
    private(set) var droppedReported: UInt64 = 0
    private(set) var lastDeliveryNanoseconds: UInt64 = 0
    private(set) var endedSubscribers = 0
    private(set) var closedSubscribers = 0
    private(set) var notices: [String] = []
    private(set) var latency = Histogram<UInt64>(
        lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000_000, numberOfSignificantValueDigits: .three)

    init() throws {
        epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epollFD >= 0 else { throw BenchError("epoll_create1: \(String(cString: strerror(errno)))") }
        buffer = .allocate(byteCount: Self.headroom + Self.readChunk, alignment: 64)
        events = .allocate(capacity: Int(Self.maxEvents))
    }

    deinit {
        closeAll()
        Glibc.close(epollFD)
        buffer.deallocate()
        events.deallocate()
    }

    var subscriberCount: Int { subscribers.count }
    /// True once every subscriber's stream has ended or its connection closed.
    var allFinished: Bool { endedSubscribers + closedSubscribers >= subscribers.count && !subscribers.isEmpty }

    /// Takes over a subscribed, nonblocking socket. `unreadBytes` were received before the hand-over.
    func add(fileDescriptor fd: Int32, unreadBytes: [UInt8], samplesLatency: Bool) throws {
        let index = subscribers.count
        subscribers.append(Subscriber(fd: fd, samplesLatency: samplesLatency))
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.u64 = UInt64(index)
        guard epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &event) == 0 else {
            throw BenchError("epoll_ctl: \(String(cString: strerror(errno)))")
        }
        var offset = 0
        while offset < unreadBytes.count {
            let piece = min(Self.readChunk, unreadBytes.count - offset)
            let base = prependCarry(of: index)
            unreadBytes.withUnsafeBytes { (base.read).copyMemory(from: $0.baseAddress! + offset, byteCount: piece) }
            walk(index, from: base.start, count: base.carried + piece, now: MonotonicClock.nanoseconds())
            offset += piece
        }
    }

    /// Waits up to `timeoutMilliseconds` for readable sockets and reads each once.
    func pollOnce(timeoutMilliseconds: Int32) {
        let ready = epoll_wait(epollFD, events, Self.maxEvents, timeoutMilliseconds)
        guard ready > 0 else { return }
        for slot in 0..<Int(ready) {
            let index = Int(events[slot].data.u64)
            if subscribers[index].isOpen { readOnce(index) }
        }
    }

    func closeAll() {
        for index in subscribers.indices where subscribers[index].isOpen {
            Glibc.close(subscribers[index].fd)
            subscribers[index].isOpen = false
        }
    }

    // MARK: Reading

    /// Copies the subscriber's carried bytes just in front of the read area.
    private func prependCarry(of index: Int) -> (start: UnsafeMutableRawPointer, read: UnsafeMutableRawPointer, carried: Int) {
        let read = buffer + Self.headroom
        let carried = subscribers[index].carry.count
        if carried > 0 {
            subscribers[index].carry.withUnsafeBytes { (read - carried).copyMemory(from: $0.baseAddress!, byteCount: carried) }
            subscribers[index].carry.removeAll(keepingCapacity: true)
        }
        return (read - carried, read, carried)
    }

    private func readOnce(_ index: Int) {
        let area = prependCarry(of: index)
        let count = recv(subscribers[index].fd, area.read, Self.readChunk, 0)
        if count > 0 {
            let now = subscribers[index].samplesLatency ? MonotonicClock.nanoseconds() : 0
            walk(index, from: area.start, count: area.carried + count, now: now)
            return
        }
        if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            // Nothing read after all: keep the carried bytes for next time.
            subscribers[index].carry = Array(UnsafeRawBufferPointer(start: area.start, count: area.carried))
            return
        }
        close(index, notice: count == 0 ? nil : "subscriber \(index): recv: \(String(cString: strerror(errno)))")
    }

    /// Counts the frames in `count` bytes at `start`, leaving a cut frame's remainder as skip or carry.
    private func walk(_ index: Int, from start: UnsafeMutableRawPointer, count: Int, now: UInt64) {
        var offset = 0
        var skip = subscribers[index].skip
        if skip > 0 {
            offset = min(skip, count)
            skip -= offset
        }
        let sampling = subscribers[index].samplesLatency
        let neededForMessage = sampling ? Self.latencyPrefix : WireLimits.headerSize
        var messages: UInt64 = 0
        var payloadBytes = 0
        while count - offset >= WireLimits.headerSize {
            let frame = start + offset
            let length = Int(UInt32(bigEndian: frame.loadUnaligned(as: UInt32.self)))
            let frameSize = WireLimits.headerSize + length
            if frame.load(fromByteOffset: 4, as: UInt8.self) == FrameType.message.rawValue
                && length >= WireLimits.messageBodyOverhead
            {
                if count - offset < min(frameSize, neededForMessage) { break }
                messages += 1
                payloadBytes += length - WireLimits.messageBodyOverhead
                if sampling && frameSize >= Self.latencyPrefix,
                    let sent = FanoutPayload.readDigits(at: frame + MessageFrame.prefixSize + FanoutPayload.timestampOffset),
                    now > sent
                {
                    _ = latency.record(now - sent)
                }
                if count - offset >= frameSize {
                    offset += frameSize
                } else {
                    skip = frameSize - (count - offset)
                    offset = count
                }
            } else {
                guard frameSize <= Self.headroom else {
                    close(index, notice: "subscriber \(index): unexpected frame of \(length) bytes")
                    return
                }
                if count - offset < frameSize { break }
                handleControlFrame(index, UnsafeRawBufferPointer(start: frame, count: frameSize))
                if !subscribers[index].isOpen { return }
                offset += frameSize
            }
        }
        subscribers[index].skip = skip
        if offset < count {
            subscribers[index].carry.append(contentsOf: UnsafeRawBufferPointer(start: start + offset, count: count - offset))
        }
        if messages > 0 {
            delivered += messages
            deliveredPayloadBytes += UInt64(payloadBytes)
            lastDeliveryNanoseconds = now > 0 ? now : MonotonicClock.nanoseconds()
        }
    }

    /// Everything but MESSAGE: rare, so decoded the ordinary way.
    private func handleControlFrame(_ index: Int, _ bytes: UnsafeRawBufferPointer) {
        let frame: Frame
        do {
            let header = try FrameHeader.parse(bytes, maxBody: Self.headroom)
            frame = try Frame.decode(header: header, body: UnsafeRawBufferPointer(rebasing: bytes[WireLimits.headerSize...]))
        } catch {
            close(index, notice: "subscriber \(index): \(error)")
            return
        }
        switch frame {
        case .dropped(let dropped):
            droppedReported += dropped.count
        case .streamEnded(_, let reason):
            if !subscribers[index].hasEnded {
                subscribers[index].hasEnded = true
                endedSubscribers += 1
                if endedSubscribers == 1 { notices.append("stream ended (\(reason))") }
            }
        case .error(let error):
            notices.append("subscriber \(index): \(error.code.name): \(error.message)")
            if error.fatal { close(index, notice: nil) }
        case .ping(let opaque):
            let pong = Frame.pong(opaque).encoded()
            _ = pong.withUnsafeBytes { send(subscribers[index].fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        default:
            break
        }
    }

    private func close(_ index: Int, notice: String?) {
        guard subscribers[index].isOpen else { return }
        if let notice { notices.append(notice) }
        epoll_ctl(epollFD, EPOLL_CTL_DEL, subscribers[index].fd, nil)
        Glibc.close(subscribers[index].fd)
        subscribers[index].isOpen = false
        subscribers[index].carry = []
        if !subscribers[index].hasEnded { closedSubscribers += 1 }
    }
}

/// A bench failure, printed as the error message.
struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
