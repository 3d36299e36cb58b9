import Foundation
import TernCore
import TernStore
import Testing

/// The broker calls the store from reactor threads and the control API at once.
struct SQLiteStoreConcurrencyTests {
    @Test func concurrentWritesFromSeveralThreadsAllLand() throws {
        let folder = try TemporaryFolder()
        let store = try SQLiteStore.open(path: folder.databasePath)
        let services = (0..<4).map { Sample.service(at: Int64($0)) }
        for service in services { try store.insertService(service) }

        let threads = 8
        let perThread = 150
        let failures = Locked<[String]>([])
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            let service = services[thread % services.count]
            var created: [StreamRecord] = []
            do {
                for index in 0..<perThread {
                    let stream = Sample.stream(
                        in: service,
                        index: UInt64(thread * perThread + index),
                        uniqueName: "t\(thread)-\(index)"
                    )
                    try store.insertStream(stream)
                    created.append(stream)
                    // Every third stream is deleted again, singly or in a batch.
                    if index % 3 == 2 {
                        if thread % 2 == 0 {
                            try store.deleteStream(sid: stream.sid)
                        } else {
                            try store.deleteStreams(sids: [stream.sid])
                        }
                    }
                }
            } catch {
                failures.withLock { $0.append("thread \(thread): \(error)") }
            }
        }
        #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0 })")
        store.close()

        let reopened = try SQLiteStore.open(path: folder.databasePath)
        defer { reopened.close() }
        let streams = try reopened.loadStreams()
        #expect(streams.count == threads * (perThread - perThread / 3))
        #expect(Set(streams.map(\.sid)).count == streams.count)
        #expect(streams.map(\.creationIndex) == streams.map(\.creationIndex).sorted())
        #expect(!streams.contains { $0.uniqueName?.hasSuffix("-2") == true })
    }
}
