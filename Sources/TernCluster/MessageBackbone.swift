import NIOCore
import Synchronization
import TernCore
import TernNATS
import TernWire

/// Messages across nodes. Each accepted run is published once, as one NATS message on the
/// stream's subject (`tern.<bucket>.m.<stream sid>`); a node subscribes to that subject only
/// while some reader here delivers the stream, and appends what arrives to the stream's lane for
/// the publishing node, without validating or re-encoding the payloads.
///
/// Body of a backbone message: origin sid prefix (8 bytes), first sequence (u64), count (u32),
/// then per message its length (u32) and payload; integers big-endian.
public final class MessageBackbone: ClusterLink, @unchecked Sendable {
    let connection: NATSConnection
    let subjectPrefix: String
    /// Outbox bytes above which runs are dropped (the backbone cannot keep up, or is gone).
    static let maxOutboxBytes = 8 << 20
    private let outbox = Locked(Outbox())
    private let brokerBox = Locked<Broker?>(nil)
    public let runsForwarded = Atomic<UInt64>(0)
    public let runsDropped = Atomic<UInt64>(0)
    public let runsReceived = Atomic<UInt64>(0)
    // Event-loop state: the backbone subscription per stream sid (0 while it is being made).
    private var interests: [String: UInt64] = [:]

    private struct Outbox {
        var buffer = ByteBuffer()
        var flushScheduled = false
    }

    init(connection: NATSConnection, bucket: String) {
        self.connection = connection
        subjectPrefix = "tern.\(bucket).m."
    }

    func attach(_ broker: Broker) { brokerBox.withLock { $0 = broker } }
    private var broker: Broker? { brokerBox.withLock { $0 } }

    /// Streams this node follows on the backbone now.
    public let interestCount = Atomic<Int>(0)

    // MARK: Sending (under the stream's publish lock: copy into the outbox, never block)

    public func forward(
        _ stream: BrokerStream,
        firstSequence: UInt64,
        payloads: UnsafeBufferPointer<UnsafeRawBufferPointer>
    ) {
        guard connection.isConnected else {
            runsDropped.add(1, ordering: .relaxed)
            return
        }
        var bodyLength = 20
        for payload in payloads { bodyLength += 4 + payload.count }
        let schedule = outbox.withLock { outbox -> Bool in
            guard outbox.buffer.readableBytes < Self.maxOutboxBytes else {
                runsDropped.add(1, ordering: .relaxed)
                return false
            }
            NATSCommand.publishHead(
                subject: subjectPrefix + stream.sid,
                payloadLength: bodyLength,
                into: &outbox.buffer
            )
            outbox.buffer.writeInteger(stream.sidPrefix.value)
            outbox.buffer.writeInteger(firstSequence)
            outbox.buffer.writeInteger(UInt32(payloads.count))
            for payload in payloads {
                outbox.buffer.writeInteger(UInt32(payload.count))
                outbox.buffer.writeBytes(payload)
            }
            outbox.buffer.writeStaticString("\r\n")
            runsForwarded.add(1, ordering: .relaxed)
            defer { outbox.flushScheduled = true }
            return !outbox.flushScheduled
        }
        if schedule { connection.eventLoop.execute { self.flush() } }
    }

    private func flush() {
        let bytes = outbox.withLock { outbox -> ByteBuffer in
            outbox.flushScheduled = false
            defer { outbox.buffer = ByteBuffer() }
            return outbox.buffer
        }
        if bytes.readableBytes > 0 && !connection.writeEncoded(bytes) { runsDropped.add(1, ordering: .relaxed) }
    }

    // MARK: Interest

    public func interestChanged(_ stream: BrokerStream) {
        connection.eventLoop.execute { self.reconcile(stream) }
    }

    /// Subscribes to or leaves the stream's subject to match its interest now.
    private func reconcile(_ stream: BrokerStream) {
        let wanted = stream.hasLocalInterest && stream.ended == nil
        let held = interests[stream.sid]
        if wanted && held == nil {
            interests[stream.sid] = 0
            interestCount.add(1, ordering: .relaxed)
            let sid = stream.sid
            connection.subscribe(subjectPrefix + sid) { [weak self] message in
                self?.received(message, streamSid: sid)
            }.whenSuccess { natsSid in
                self.interests[sid] = natsSid
                // Interest may have gone while the subscription was being made.
                self.reconcile(stream)
            }
        } else if !wanted, let natsSid = held, natsSid != 0 {
            interests[stream.sid] = nil
            interestCount.subtract(1, ordering: .relaxed)
            connection.unsubscribe(natsSid)
            broker?.closeLanes(of: stream)
        }
    }

    // MARK: Receiving (on the event loop)

    private func received(_ message: NATSMessage, streamSid: String) {
        guard let broker else { return }
        runsReceived.add(1, ordering: .relaxed)
        message.payload.withUnsafeReadableBytes { raw in
            guard raw.count >= 20 else { return }
            let origin = SidPrefix(value: UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self)))
            let first = UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
            let count = Int(UInt32(bigEndian: raw.loadUnaligned(fromByteOffset: 16, as: UInt32.self)))
            var payloads: [UnsafeRawBufferPointer] = []
            payloads.reserveCapacity(count)
            var offset = 20
            for _ in 0..<count {
                guard offset + 4 <= raw.count else { return }
                let length = Int(UInt32(bigEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
                offset += 4
                guard offset + length <= raw.count else { return }
                payloads.append(UnsafeRawBufferPointer(rebasing: raw[offset..<offset + length]))
                offset += length
            }
            payloads.withUnsafeBufferPointer { run in
                broker.appendRemote(sid: streamSid, origin: origin, firstSequence: first, payloads: run)
            }
        }
    }
}
