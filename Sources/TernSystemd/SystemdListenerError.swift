/// A socket-activation problem, worded for the operator who wrote the `.socket` units:
/// what systemd passed, and what `ternd` accepts.
public struct SystemdListenerError: Error, CustomStringConvertible, Sendable {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}
