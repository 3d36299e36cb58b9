import Foundation
import TernCore
import TernStore

/// A fresh folder per test, removed when the test ends, and sample records.
final class TemporaryFolder {
    let path: String

    init() throws {
        var template = Array("/tmp/tern-store-test-XXXXXX".utf8CString)
        guard let result = mkdtemp(&template) else { throw CocoaError(.fileWriteUnknown) }
        path = String(cString: result)
    }

    var databasePath: String { path + "/tern.sqlite" }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

enum Sample {
    static let account = Sid.generate(.account)

    static func service(friendlyName: String? = "orders", at milliseconds: Int64 = 1_700_000_000_123) -> SyncService {
        SyncService(
            sid: Sid.generate(.service),
            friendlyName: friendlyName,
            accountSid: account,
            dateCreated: UnixTime(milliseconds: milliseconds),
            dateUpdated: UnixTime(milliseconds: milliseconds + 5)
        )
    }

    static func stream(
        in service: SyncService,
        index: UInt64,
        uniqueName: String? = nil,
        expires: Int64? = nil
    ) -> StreamRecord {
        let offset = Int64(index % 1_000_000)
        return StreamRecord(
            sid: Sid.generate(.stream),
            serviceSid: service.sid,
            accountSid: account,
            uniqueName: uniqueName,
            createdBy: "system",
            dateCreated: UnixTime(milliseconds: 1_700_000_001_000 + offset),
            dateUpdated: UnixTime(milliseconds: 1_700_000_002_000 + offset),
            dateExpires: expires.map(UnixTime.init(milliseconds:)),
            creationIndex: index
        )
    }
}
