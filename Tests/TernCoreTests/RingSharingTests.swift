import Glibc
import Synchronization
import TernCore
import TernWire
import Testing

/// A private ring moved into a sealed memfd in place (`makeShared`), as the daemon does for a
/// stream's first shared-memory reader while its socket readers go on reading.
@Suite("BroadcastRing.makeShared")
struct RingSharingTests {
    static let streamID: UInt32 = 9
    static let capacity = 1 << 14

    static func append(_ ring: BroadcastRing, sequence: UInt64) {
        let payload = Array(#"{"n":\#(sequence)}"#.utf8)
        payload.withUnsafeBytes { ring.appendMessage(streamID: streamID, sequence: sequence, payload: $0) }
    }

    static func encoded(_ sequences: ClosedRange<UInt64>) -> [UInt8] {
        sequences.flatMap { sequence in
            Frame.message(.init(streamID: streamID, sequence: sequence, payload: Array(#"{"n":\#(sequence)}"#.utf8)))
                .encoded()
        }
    }

    /// Every byte from `cursor` to the tail, read as a reactor thread reads.
    static func readAll(_ ring: BroadcastRing, from cursor: UInt64) -> [UInt8] {
        let destination = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 8)
        defer { destination.deallocate() }
        var cursor = cursor
        var bytes: [UInt8] = []
        while true {
            let result = ring.read(from: cursor, into: destination)
            #expect(!result.lapped)
            if result.bytes == 0 { return bytes }
            bytes += destination[..<result.bytes]
            cursor = result.cursor
        }
    }

    @Test("the moved ring keeps every byte, and the memfd shows what is appended afterwards")
    func movesInPlace() throws {
        let ring = BroadcastRing(capacity: Self.capacity)
        for sequence in UInt64(1)...50 { Self.append(ring, sequence: sequence) }
        #expect(!ring.isShared && ring.sharedDescriptor == nil)

        #expect(ring.makeShared())
        #expect(ring.isShared)
        let descriptor = try #require(ring.sharedDescriptor)
        #expect(Self.readAll(ring, from: 0) == Self.encoded(1...50))

        // A reader's read-only view of the memfd holds the same frames after the control block.
        let total = SharedRingLayout.headerBytes + Self.capacity
        let view = try #require(mmap(nil, total, PROT_READ, MAP_SHARED, descriptor, 0))
        #expect(view != MAP_FAILED)
        defer { munmap(view, total) }
        for sequence in UInt64(51)...60 { Self.append(ring, sequence: sequence) }
        let expected = Self.encoded(1...60)
        let frames = UnsafeRawBufferPointer(start: view + SharedRingLayout.headerBytes, count: expected.count)
        #expect(Array(frames) == expected)
        // Sealed: no writable mapping, whatever the reader tries.
        #expect(mmap(nil, total, PROT_READ | PROT_WRITE, MAP_SHARED, descriptor, 0) == MAP_FAILED)

        // A second call changes nothing.
        #expect(ring.makeShared() && ring.sharedDescriptor == descriptor)
    }

    @Test("a reader on another thread reads whole, unchanged frames across the move")
    func readerDuringTheMove() throws {
        let ring = BroadcastRing(capacity: Self.capacity)
        for sequence in UInt64(1)...100 { Self.append(ring, sequence: sequence) }
        let expected = Self.encoded(1...100)
        let progress = Progress()
        let reader = JoinableThread {
            // Reads until well after the move (bounded: at most 200,000 reads).
            for _ in 0..<200_000 {
                if Self.readAll(ring, from: 0) != expected { progress.mismatches.add(1, ordering: .relaxed) }
                if progress.moved.load(ordering: .acquiring),
                    progress.readsAfterMove.add(1, ordering: .relaxed).newValue >= 200
                {
                    break
                }
            }
        }
        usleep(2_000)
        #expect(ring.makeShared())
        progress.moved.store(true, ordering: .releasing)
        reader.join()
        #expect(progress.mismatches.load(ordering: .relaxed) == 0)
        #expect(progress.readsAfterMove.load(ordering: .relaxed) >= 200)
    }

    final class Progress: Sendable {
        let moved = Atomic<Bool>(false)
        let mismatches = Atomic<Int>(0)
        let readsAfterMove = Atomic<Int>(0)
    }
}
