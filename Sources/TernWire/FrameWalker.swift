/// Walks a run of whole frames laid end to end (a ring batch, a read buffer) by their length
/// fields, without decoding them: the one place that knows how frames follow each other.
public enum FrameWalker {
    /// The length of the longest prefix of `bytes` made of whole frames, and where the last of
    /// them starts (0 if there is none). With `limit`, the prefix ends before the first frame
    /// that would take it past `limit` bytes, unless that is the first frame.
    @inlinable
    public static func wholeFrames(
        _ bytes: UnsafeRawBufferPointer,
        upTo limit: Int = .max
    ) -> (bytes: Int, lastStart: Int) {
        var offset = 0
        var lastStart = 0
        while bytes.count - offset >= WireLimits.headerSize {
            let next = offset + WireLimits.headerSize + bodyLength(bytes, at: offset)
            if next > bytes.count || (next > limit && offset > 0) { break }
            lastStart = offset
            offset = next
        }
        return (offset, lastStart)
    }

    /// Appends the start offset of every frame in `bytes`, which must hold whole frames only.
    @inlinable
    public static func frameStarts(_ bytes: UnsafeRawBufferPointer, into starts: inout [Int]) {
        var offset = 0
        while offset < bytes.count {
            starts.append(offset)
            offset += WireLimits.headerSize + bodyLength(bytes, at: offset)
        }
    }

    /// The size of the frame at the start of `bytes` (header included) as its length field says;
    /// `bytes` must hold at least a header.
    @inlinable
    public static func firstFrameSize(_ bytes: UnsafeRawBufferPointer) -> Int {
        WireLimits.headerSize + bodyLength(bytes, at: 0)
    }

    @inlinable
    static func bodyLength(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> Int {
        Int(UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
    }
}
