/// One key's value at one revision, as a watch or a get sees it.
public struct KeyValueEntry: Sendable {
    public enum Operation: Sendable, Equatable {
        case put, delete, purge
    }

    public var key: String
    public var value: [UInt8]
    /// The stream sequence of this value: the revision an update or compare-and-delete names.
    public var revision: UInt64
    public var operation: Operation
    /// All headers the writer set (Tern adds its own beside `KV-Operation`).
    public var headers: NATSHeaders?

    public init(key: String, value: [UInt8], revision: UInt64, operation: Operation, headers: NATSHeaders?) {
        self.key = key
        self.value = value
        self.revision = revision
        self.operation = operation
        self.headers = headers
    }

    static func operation(from headers: NATSHeaders?) -> Operation {
        switch headers?["KV-Operation"] {
        case "DEL": .delete
        case "PURGE": .purge
        default: .put
        }
    }
}

/// Why a conditional write was refused.
public enum KeyValueError: Error, Sendable, Equatable {
    /// A create found a live value under the key.
    case exists(String)
    /// An update or delete named a revision that is not the key's latest.
    case wrongRevision(String)
}
