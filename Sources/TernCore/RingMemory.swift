import CTernShims
import Synchronization
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
///
/// A private ring becomes shared in place (`share`) when its first shared-memory reader comes,
/// so only rings that have such readers hold a descriptor: ten thousand streams read over
/// sockets cost no descriptors of the process's limit.
final class RingMemory: @unchecked Sendable {
    let header: UnsafeMutableRawPointer
    let frames: UnsafeMutableRawPointer
    /// The memfd, or -1 while the ring is private. Set once (by `init` or `share`), read by
    /// `notify` without the writers' lock.
    private let descriptorWord = Atomic<Int32>(-1)
    private let totalBytes: Int
    private let streamID: UInt32

    var descriptor: Int32? {
        let fd = descriptorWord.load(ordering: .acquiring)
        return fd >= 0 ? fd : nil
    }

    init(capacity: Int, shared: Bool, streamID: UInt32) {
        totalBytes = SharedRingLayout.headerBytes + capacity
        self.streamID = streamID
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
        if let descriptor { descriptorWord.store(descriptor, ordering: .releasing) }
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

    /// Moves a private ring into a sealed memfd at the same address, keeping every byte; true if
    /// the ring is shared afterwards. The caller keeps the ring's writers out; readers on other
    /// threads may go on reading (they see the same bytes before and after). False, with the ring
    /// still private and intact, when no memfd can be made (for instance at the descriptor limit).
    func share() -> Bool {
        if descriptor != nil { return true }
        let fd = ctern_ring_move_into_memfd(header, totalBytes, "tern-ring-\(streamID)")
        guard fd >= 0 else { return false }
        guard ctern_ring_memfd_seal(fd) == 0 else {
            // The ring now lives in the memfd either way; without seals it must not be handed out.
            close(fd)
            return false
        }
        descriptorWord.store(fd, ordering: .releasing)
        return true
    }

    /// One increment of the notify word and one FUTEX_WAKE of its waiters (none for a private ring).
    func notify() {
        guard descriptorWord.load(ordering: .relaxed) >= 0 else { return }
        let word = header + SharedRingLayout.notifyOffset
        _ = ctern_increment_u32(word)
        _ = ctern_futex_wake_all(word)
    }
}
