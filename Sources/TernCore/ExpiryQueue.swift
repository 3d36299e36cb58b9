import Synchronization

/// Streams ordered by expiry time: a binary min-heap, so finding what is due costs O(log n) per
/// expiry instead of a scan of all streams.
///
/// Entries are never removed early: an update pushes a new entry and a delete leaves the old one
/// behind. When an entry comes due, the caller (`Broker.expireDue`) checks it against the
/// stream's current expiry and registration and skips stale ones.
final class ExpiryQueue: Sendable {
    struct Entry {
        var expires: UnixTime
        var stream: BrokerStream
    }

    private let heap = Locked<[Entry]>([])

    func schedule(_ stream: BrokerStream, at expires: UnixTime) {
        heap.withLock { heap in
            heap.append(Entry(expires: expires, stream: stream))
            var child = heap.count - 1
            while child > 0 {
                let parent = (child - 1) / 2
                guard heap[child].expires < heap[parent].expires else { break }
                heap.swapAt(child, parent)
                child = parent
            }
        }
    }

    /// Removes and returns every entry due at `now`.
    func popDue(now: UnixTime) -> [Entry] {
        heap.withLock { heap in
            var due: [Entry] = []
            while let first = heap.first, first.expires <= now {
                due.append(first)
                let last = heap.removeLast()
                guard !heap.isEmpty else { break }
                heap[0] = last
                var parent = 0
                while true {
                    let left = 2 * parent + 1
                    let right = left + 1
                    var smallest = parent
                    if left < heap.count && heap[left].expires < heap[smallest].expires { smallest = left }
                    if right < heap.count && heap[right].expires < heap[smallest].expires { smallest = right }
                    guard smallest != parent else { break }
                    heap.swapAt(parent, smallest)
                    parent = smallest
                }
            }
            return due
        }
    }

    /// The earliest scheduled expiry, if any.
    var next: UnixTime? { heap.withLock { $0.first?.expires } }
}
