/// The layout of a stream's ring as a shared-memory reader maps it (protocol.md §4.19): a control
/// block of `headerBytes`, then `ring_bytes` of MESSAGE frames stored back to back, wrapping.
///
/// Control-block words are in the host's byte order (shared memory never leaves the host); the
/// frames in the ring are ordinary wire frames (big-endian fields).
public enum SharedRingLayout {
    /// "TERNRING" in ASCII: the first 8 bytes of every mapping.
    public static let magic: [UInt8] = Array("TERNRING".utf8)
    /// Bumped when the control block changes incompatibly.
    public static let layoutVersion: UInt32 = 1
    /// Bytes of the control block; the ring starts here (page aligned).
    public static let headerBytes = 4096

    // Constant fields (written once before the mapping is handed out).
    public static let magicOffset = 0
    public static let layoutVersionOffset = 8
    public static let headerBytesOffset = 12
    public static let capacityOffset = 16
    public static let streamIDOffset = 24

    // Live words, each naturally aligned, on their own cache line.
    /// u64: end of the region the writer may be overwriting (≥ tail).
    public static let tailIntentOffset = 64
    /// u64: end of the last complete frame.
    public static let tailOffset = 72
    /// u64: start of the newest complete frame, where a lapped reader starts again.
    public static let latestOffset = 80
    /// u32: incremented once per publishing turn (and at the end); readers FUTEX_WAIT on it.
    public static let notifyOffset = 88
    /// u32: 0 while the stream lives, else its STREAM_ENDED reason.
    public static let endReasonOffset = 92
}
