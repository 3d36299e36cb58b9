import Foundation
import TernCore

/// The daemon's state folder: identity (account sid, default service sid) and the data-port
/// Unix socket. Created on first start.
struct StateFolder {
    let path: String

    struct Identity: Codable {
        var accountSid: String
        var defaultServiceSid: String
    }

    init(path: String) throws {
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        self.path = URL(fileURLWithPath: absolute).standardizedFileURL.path
        try FileManager.default.createDirectory(atPath: self.path, withIntermediateDirectories: true)
    }

    var identityFile: String { path + "/identity.json" }
    var defaultSocketPath: String { path + "/ternd.sock" }

    /// Reads the identity, or creates one on first start. A file that exists but cannot be read is
    /// an error: starting with a fresh identity would silently orphan every client's sids.
    func loadOrCreateIdentity() throws -> Identity {
        if FileManager.default.fileExists(atPath: identityFile) {
            let data = try Data(contentsOf: URL(fileURLWithPath: identityFile))
            do {
                let identity = try JSONDecoder().decode(Identity.self, from: data)
                guard Sid.isSid(identity.accountSid, of: .account), Sid.isSid(identity.defaultServiceSid, of: .service) else {
                    throw StateError("\(identityFile) holds malformed sids")
                }
                return identity
            } catch let error as StateError {
                throw error
            } catch {
                throw StateError("\(identityFile) is unreadable (\(error)); move it away to start with a new identity")
            }
        }
        let identity = Identity(accountSid: Sid.generate(.account), defaultServiceSid: Sid.generate(.service))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(identity).write(to: URL(fileURLWithPath: identityFile), options: .atomic)
        return identity
    }
}

struct StateError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
