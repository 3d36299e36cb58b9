/// The payloads of consecutive PUBLISH frames to one stream, as views into the read buffer they
/// arrived in: what the broker appends to a stream's ring under one lock. No bytes are copied
/// until the ring's. Valid only while that read buffer is; the reactor appends the run before it
/// reuses the buffer.
///
/// The views are raw pointers, which stay inside the wire and ring types: the broker's API takes
/// a `PayloadRun` or a `RawSpan`, and only the ring opens the run (`withUnsafePayloads`).
public struct PayloadRun {
    @usableFromInline var views: [UnsafeRawBufferPointer] = []

    public init(capacity: Int) { views.reserveCapacity(capacity) }

    public var count: Int { views.count }
    public var isEmpty: Bool { views.isEmpty }

    @inlinable
    public mutating func append(_ publish: PublishView) { views.append(publish.payload) }

    /// Bytes of the MESSAGE frames of the first `count` payloads.
    public func frameBytes(first count: Int) -> Int {
        var bytes = count * MessageFrame.prefixSize
        for view in views[..<count] { bytes += view.count }
        return bytes
    }

    /// Calls `body` with payload `index` as a span.
    @inlinable
    public func withPayload<R, E: Error>(_ index: Int, _ body: (RawSpan) throws(E) -> R) throws(E) -> R {
        try body(views[index].bytes)
    }

    /// The first `count` payloads as raw buffers, for the ring's copy.
    @inlinable
    public func withUnsafePayloads<R, E: Error>(
        first count: Int,
        _ body: (UnsafeBufferPointer<UnsafeRawBufferPointer>) throws(E) -> R
    ) throws(E) -> R {
        precondition(count <= views.count, "a run has \(views.count) payloads")
        return try views.withUnsafeBufferPointer { (all) throws(E) -> R in
            try body(UnsafeBufferPointer(rebasing: all[..<count]))
        }
    }

    public mutating func removeAll() { views.removeAll(keepingCapacity: true) }
}
