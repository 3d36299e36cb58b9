import Glibc

/// A load-generator failure, printed as the error message.
public struct BenchError: Error, CustomStringConvertible {
    public var description: String

    public init(_ description: String) { self.description = description }

    /// `<call>: <strerror(errno)>`, for a system call that failed.
    init(call: String, errno error: Int32 = errno) {
        self.init("\(call): \(String(cString: strerror(error)))")
    }
}
