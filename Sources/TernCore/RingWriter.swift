/// A publishing thread's scratch memory for runs of MESSAGE frames: a run is encoded here and
/// copied into a stream's ring with one word-atomic store per piece (`BroadcastRing.appendMessages`),
/// which costs far less than one store per frame. One per thread; not thread-safe.
public final class RingWriter {
    /// Enough for a run of small messages; a larger frame is written into the ring in place.
    public static let defaultStagingBytes = 16 * 1024

    let staging: UnsafeMutableRawBufferPointer

    public init(stagingBytes: Int = RingWriter.defaultStagingBytes) {
        staging = .allocate(byteCount: stagingBytes, alignment: 16)
    }

    deinit { staging.deallocate() }
}
