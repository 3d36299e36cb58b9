import Foundation
import Synchronization
import TernCore
import TernReactor

/// The one-line status systemd shows (`STATUS=`): live counts and rates since the last line.
final class StatusReporter: Sendable {
    private let broker: Broker
    private let reactor: Reactor
    private let last: Mutex<(time: Double, published: UInt64, delivered: UInt64)>

    init(broker: Broker, reactor: Reactor) {
        self.broker = broker
        self.reactor = reactor
        let statistics = reactor.statistics
        last = Mutex(
            (
                MonotonicTime.seconds(), broker.messagesPublished.load(ordering: .relaxed),
                UInt64(statistics[.messagesDelivered])
            )
        )
    }

    func line() -> String {
        let statistics = reactor.statistics
        let published = broker.messagesPublished.load(ordering: .relaxed)
        let now = MonotonicTime.seconds()
        let (inRate, outRate) = last.withLock { last -> (Double, Double) in
            let seconds = max(now - last.time, 0.001)
            defer { last = (now, published, UInt64(statistics[.messagesDelivered])) }
            return (
                Double(published - last.published) / seconds,
                Double(UInt64(statistics[.messagesDelivered]) - last.delivered) / seconds
            )
        }
        let drops = statistics[.messagesDroppedSlowConsumer] + statistics[.messagesDroppedLapped]
        return "connections=\(statistics.openConnections) subscribers=\(statistics[.subscriptions]) "
            + "streams=\(broker.streamCount) in=\(Int(inRate))/s out=\(Int(outRate))/s drops=\(drops)"
    }
}
