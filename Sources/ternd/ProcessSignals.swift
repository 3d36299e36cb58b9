import Dispatch
import Glibc

/// Turns process signals into an async sequence (through Dispatch, which owns the handlers), so
/// the daemon reacts to them in one place, in order: SIGTERM/SIGINT stop, SIGHUP reloads.
final class ProcessSignals: @unchecked Sendable {
    private var sources: [any DispatchSourceSignal] = []
    let events: AsyncStream<Int32>
    private let continuation: AsyncStream<Int32>.Continuation

    init(_ signals: [Int32]) {
        (events, continuation) = AsyncStream.makeStream(of: Int32.self)
        for number in signals {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [continuation] in continuation.yield(number) }
            source.resume()
            sources.append(source)
        }
    }
}
