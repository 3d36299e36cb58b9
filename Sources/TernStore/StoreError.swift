/// Why the store could not open or could not record a change.
///
/// Written for the operator who reads it in a failed start: it names the database file and says
/// what to do, because the daemon must never paper over a damaged state folder by starting empty
/// (every client's sids and credentials would silently change).
public struct StoreError: Error, CustomStringConvertible, Sendable {
    /// The database file the error concerns.
    public var path: String
    /// What went wrong, in a sentence.
    public var reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    public var description: String { "state database \(path): \(reason)" }
}
