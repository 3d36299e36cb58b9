/// Finds complete frames in a byte stream without copying them.
///
/// Feed it the bytes received so far; it returns the next frame's header and body range, or
/// `nil` when the frame is not complete yet (the caller keeps the bytes and reads more).
/// A header that breaks the rules throws as soon as its 8 bytes are present.
public struct FrameSplitter: Sendable {
    /// Largest body accepted (`max_frame_body`).
    public var maxBody: Int

    @inlinable
    public init(maxBody: Int) {
        self.maxBody = maxBody
    }

    public struct Slice {
        @inlinable
        init(header: FrameHeader, bodyStart: Int, end: Int) {
            self.header = header
            self.bodyStart = bodyStart
            self.end = end
        }

        public var header: FrameHeader
        /// Offset of the body within the buffer given to `next`.
        public var bodyStart: Int
        /// Offset just past this frame.
        public var end: Int
    }

    /// The frame starting at `offset` in `buffer`, if it is complete.
    @inlinable
    public func next(in buffer: UnsafeRawBufferPointer, at offset: Int) throws(WireError) -> Slice? {
        let available = buffer.count - offset
        guard available >= WireLimits.headerSize else { return nil }
        let header = try FrameHeader.parse(UnsafeRawBufferPointer(rebasing: buffer[offset...]), maxBody: maxBody)
        let end = offset + WireLimits.headerSize + Int(header.length)
        guard end <= buffer.count else { return nil }
        return Slice(header: header, bodyStart: offset + WireLimits.headerSize, end: end)
    }
}
