import Synchronization
import TernCore
import TernWire

#if canImport(Glibc)
import Glibc
#endif

/// Helpers for the ring tests: deterministic payloads, a parser for the bytes `read` returns,
/// and joinable pthreads (the ring's readers and writers are plain threads in `ternd`, never
/// Swift tasks).

/// The payload length of message `sequence`: mostly small, sometimes large, never the same
/// pattern twice in a row, so frame boundaries land everywhere in the ring.
func payloadLength(sequence: UInt64, max: Int) -> Int {
    let mixed = sequence &* 0x9E37_79B9_7F4A_7C15
    if mixed >> 60 == 0 { return Int((mixed >> 20) % UInt64(max + 1)) }  // 1 in 16: anything up to max
    return Int((mixed >> 32) % 97)
}

/// Byte `index` of message `sequence`'s payload. Depends on both, so a frame stitched together
/// from two messages, or shifted, fails the check.
@inline(__always)
func payloadByte(sequence: UInt64, index: Int) -> UInt8 {
    UInt8(truncatingIfNeeded: (sequence &* 131) ^ (UInt64(index) &* 7) ^ (sequence >> 8))
}

func payload(sequence: UInt64, max: Int) -> [UInt8] {
    (0..<payloadLength(sequence: sequence, max: max)).map { payloadByte(sequence: sequence, index: $0) }
}

/// Appends message `sequence` with its deterministic payload, using `scratch` for the bytes.
func appendDeterministic(
    _ ring: BroadcastRing,
    streamID: UInt32,
    sequence: UInt64,
    maxPayload: Int,
    scratch: UnsafeMutableRawBufferPointer
) {
    let count = payloadLength(sequence: sequence, max: maxPayload)
    for index in 0..<count { scratch[index] = payloadByte(sequence: sequence, index: index) }
    ring.appendMessage(
        streamID: streamID,
        sequence: sequence,
        payload: UnsafeRawBufferPointer(rebasing: scratch[..<count])
    )
}

/// One MESSAGE frame as found in bytes read from a ring.
struct RingFrame: Equatable {
    var streamID: UInt32
    var sequence: UInt64
    var payload: UnsafeRawBufferPointer

    static func == (lhs: RingFrame, rhs: RingFrame) -> Bool {
        lhs.streamID == rhs.streamID && lhs.sequence == rhs.sequence && Array(lhs.payload) == Array(rhs.payload)
    }
}

enum RingParseError: Error, Equatable {
    case partialFrame(offset: Int)
    case badHeader(offset: Int)
}

/// Splits bytes returned by `BroadcastRing.read` into MESSAGE frames, requiring that they are
/// whole frames with valid headers and nothing else.
func parseRingBytes(_ bytes: UnsafeRawBufferPointer, _ body: (RingFrame) -> Void) throws(RingParseError) {
    var offset = 0
    while offset < bytes.count {
        guard bytes.count - offset >= MessageFrame.prefixSize else { throw .partialFrame(offset: offset) }
        let length = Int(UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
        guard bytes[offset + 4] == FrameType.message.rawValue, bytes[offset + 5] == 0, bytes[offset + 6] == 0,
            bytes[offset + 7] == 0, length >= WireLimits.messageBodyOverhead
        else { throw .badHeader(offset: offset) }
        let end = offset + WireLimits.headerSize + length
        guard end <= bytes.count else { throw .partialFrame(offset: offset) }
        let streamID = UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: offset + 8, as: UInt32.self))
        let sequence = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: offset + 12, as: UInt64.self))
        body(
            RingFrame(
                streamID: streamID,
                sequence: sequence,
                payload: UnsafeRawBufferPointer(rebasing: bytes[(offset + MessageFrame.prefixSize)..<end])
            )
        )
        offset = end
    }
}

/// Whether `frame` carries exactly the deterministic payload of its sequence.
func hasDeterministicPayload(_ frame: RingFrame, maxPayload: Int) -> Bool {
    guard frame.payload.count == payloadLength(sequence: frame.sequence, max: maxPayload) else { return false }
    for index in 0..<frame.payload.count
    where frame.payload[index] != payloadByte(sequence: frame.sequence, index: index) {
        return false
    }
    return true
}

/// A pthread that runs `body` and must be joined.
final class JoinableThread {
    private final class Box {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }

    private let handle: pthread_t
    private var joined = false

    init(_ body: @escaping @Sendable () -> Void) {
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        var handle = pthread_t()
        let result = pthread_create(
            &handle,
            nil,
            { raw in
                let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
                box.body()
                return nil
            },
            box
        )
        precondition(result == 0, "pthread_create failed: \(result)")
        self.handle = handle
    }

    func join() {
        precondition(!joined)
        joined = true
        pthread_join(handle, nil)
    }
}

/// Monotonic milliseconds, for time limits.
func monotonicMilliseconds() -> Int64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
}

/// A value behind a pthread mutex, for serialising the ring's writers in tests.
///
/// Not `Synchronization.Mutex`: on Linux its contended path (`_lockSlow`/`_unlockSlow`, futex
/// syscalls in the uninstrumented libswiftSynchronization.so) is invisible to the Thread
/// Sanitizer, which then reports false races on the values it guards. TSan intercepts
/// `pthread_mutex_lock`, so races it reports with this lock are real.
final class PthreadLocked<Value>: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var value: Value

    init(_ value: Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deinitialize(count: 1)
        mutex.deallocate()
    }

    func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
