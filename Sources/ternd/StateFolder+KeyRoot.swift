import Foundation
import TernAuth

/// The key root: the 32 random bytes every API key's secret is derived from (`KeySecret`). It is
/// kept in its own file (mode 0600), apart from the database, so a copy of `tern.sqlite` alone
/// reveals no key secret; losing it invalidates every key (create new ones).
extension StateFolder {
    var keyRootPath: String { path + "/key-root" }

    /// Reads the key root, creating it on first start. Written to a temporary file, synced, then
    /// renamed into place, so a crash never leaves a partial root behind.
    func loadOrCreateKeyRoot() throws -> [UInt8] {
        if FileManager.default.fileExists(atPath: keyRootPath) {
            guard let data = FileManager.default.contents(atPath: keyRootPath), data.count == KeySecret.rootSize else {
                throw StateError(
                    "\(keyRootPath) is unreadable or not \(KeySecret.rootSize) bytes; restore it from a backup, or remove "
                        + "it to start with a new root (every API key then stops working)"
                )
            }
            return [UInt8](data)
        }
        let root = KeySecret.generateRoot()
        let temporary = keyRootPath + ".new"
        let fd = Glibc.open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StateError("cannot create \(temporary): \(String(cString: strerror(errno)))") }
        let written = root.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd) == 0
        Glibc.close(fd)
        guard written == root.count, synced, rename(temporary, keyRootPath) == 0 else {
            throw StateError("cannot write \(keyRootPath): \(String(cString: strerror(errno)))")
        }
        let directory = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directory >= 0 {
            fsync(directory)
            Glibc.close(directory)
        }
        return root
    }
}
