import Dispatch
import Glibc

/// Turns SIGTERM and SIGINT into an awaitable event (through Dispatch, which owns the handler),
/// so shutdown runs in one place, in order.
final class ShutdownSignal: @unchecked Sendable {
    private var sources: [any DispatchSourceSignal] = []
    private let stream: AsyncStream<Int32>
    private let continuation: AsyncStream<Int32>.Continuation

    init(signals: [Int32] = [SIGTERM, SIGINT]) {
        (stream, continuation) = AsyncStream.makeStream(of: Int32.self)
        for number in signals {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [continuation] in continuation.yield(number) }
            source.resume()
            sources.append(source)
        }
    }

    /// Waits for the first signal; returns its number.
    func wait() async -> Int32 {
        for await number in stream { return number }
        return SIGTERM
    }
}
