import CTernShims
import TernWire

#if canImport(Glibc)
import Glibc
#endif

/// The memory of one `BroadcastRing`: a control block (`SharedRingLayout`) followed by the frame
/// storage, mapped once for the ring's life.
///
/// Private rings use anonymous memory. Shared rings use a memfd, mapped writable here and then
/// sealed (`F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL`): readers that get
/// the descriptor can map it only read-only and can neither resize nor write it, so nothing they
/// do reaches the writer. Pages become resident only once written, as with anonymous memory.
/// Freeing the ring unmaps it and closes the descriptor; readers' mappings keep the pages alive
/// until they unmap.
final class RingMemory: @unchecked Sendable {
    let header: UnsafeMutableRawPointer
    let frames: UnsafeMutableRawPointer
    let descriptor: Int32?
    private let totalBytes: Int

    init(capacity: Int, shared: Bool, streamID: UInt32) {
        totalBytes = SharedRingLayout.headerBytes + capacity
        var descriptor: Int32?
        var mapped: UnsafeMutableRawPointer?
        if shared {
            let fd = ctern_ring_memfd_create("tern-ring-\(streamID)", totalBytes)
            if fd >= 0 {
                let address = mmap(nil, totalBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
                if let address, address != MAP_FAILED, ctern_ring_memfd_seal(fd) == 0 {
                    mapped = address
                    descriptor = fd
                } else {
                    if let address, address != MAP_FAILED { munmap(address, totalBytes) }
                    close(fd)
                }
            }
        }
        if mapped == nil {
            let address = mmap(nil, totalBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
            guard let address, address != MAP_FAILED else {
                fatalError("mmap of a \(capacity)-byte ring failed: errno \(errno)")
            }
            mapped = address
        }
        header = mapped!
        frames = header + SharedRingLayout.headerBytes
        self.descriptor = descriptor
        // The constant fields, before any reader can see the mapping (memory starts zeroed).
        let magic = SharedRingLayout.magic
        for (offset, byte) in magic.enumerated() {
            header.storeBytes(of: byte, toByteOffset: SharedRingLayout.magicOffset + offset, as: UInt8.self)
        }
        header.storeBytes(
            of: SharedRingLayout.layoutVersion,
            toByteOffset: SharedRingLayout.layoutVersionOffset,
            as: UInt32.self
        )
        header.storeBytes(
            of: UInt32(SharedRingLayout.headerBytes),
            toByteOffset: SharedRingLayout.headerBytesOffset,
            as: UInt32.self
        )
        header.storeBytes(of: UInt64(capacity), toByteOffset: SharedRingLayout.capacityOffset, as: UInt64.self)
        header.storeBytes(of: streamID, toByteOffset: SharedRingLayout.streamIDOffset, as: UInt32.self)
    }

    deinit {
        munmap(header, totalBytes)
        if let descriptor { close(descriptor) }
    }

    /// One increment of the notify word and one FUTEX_WAKE of its waiters (none for a private ring).
    func notify() {
        guard descriptor != nil else { return }
        let word = header + SharedRingLayout.notifyOffset
        _ = ctern_increment_u32(word)
        _ = ctern_futex_wake_all(word)
    }
}
