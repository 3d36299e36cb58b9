import Foundation
import Histogram

/// The numbers a load run prints, as text or as one JSON object (what `Benchmarks/compare` reads).
public struct BenchReport {
    var workload: String
    var broker: BenchBrokerKind
    var address: String
    var streams: Int
    var subscribersPerStream: Int
    var publishers: Int
    var payloadBytes: Int
    var durationSeconds: Double
    var rate: Double?
    var windowBytes: Int?
    var windowMessages: Int?
    /// The stream's name or sid when the run used one stream.
    var streamNames: [String]
    var setupSeconds: Double
    var published: UInt64
    var publishSeconds: Double
    var delivered: UInt64
    var deliveredPayloadBytes: UInt64
    /// Everything the subscribers read, framing included.
    var bytesRead: UInt64
    /// From the first publish to the last delivery.
    var deliverySeconds: Double
    var droppedReported: UInt64
    var sampledGaps: UInt64
    var publishErrors: UInt64
    var latencySubscribers: [Int]
    var latency: Histogram<UInt64>
    var notices: [String]

    var subscribers: Int { streams * subscribersPerStream }
    var publishedPerSecond: Double { publishSeconds > 0 ? Double(published) / publishSeconds : 0 }
    var deliveredPerSecond: Double { deliverySeconds > 0 ? Double(delivered) / deliverySeconds : 0 }
    /// Payload megabytes (10^6 bytes) per second.
    var deliveredMegabytesPerSecond: Double {
        deliverySeconds > 0 ? Double(deliveredPayloadBytes) / deliverySeconds / 1e6 : 0
    }
    /// Delivered over what full delivery would be (every message to every subscriber of its stream).
    var deliveryRatio: Double {
        published > 0 ? Double(delivered) / (Double(published) * Double(subscribersPerStream)) : 0
    }

    /// Nothing lost: every published message reached every subscriber, and no DROPPED.
    var lossless: Bool {
        droppedReported == 0 && published > 0 && delivered == published * UInt64(subscribersPerStream)
    }

    func microseconds(atPercentile percentile: Double) -> Double {
        latency.totalCount > 0 ? Double(latency.valueAtPercentile(percentile)) / 1000 : 0
    }

    var latencyMaxMicroseconds: Double { latency.totalCount > 0 ? Double(latency.max) / 1000 : 0 }

    private var shape: String {
        switch workload {
        case "fanout", "latency": return "\(subscribers) subscribers"
        default:
            return "\(streams) streams × \(subscribersPerStream) subscribers, \(publishers) publisher"
                + (publishers == 1 ? "" : "s")
        }
    }

    public var text: String {
        func count(_ value: UInt64) -> String { value.formatted(.number) }
        func perSecond(_ value: Double) -> String { Int(value.rounded()).formatted(.number) }
        func fixed(_ value: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", value) }
        let listed =
            latencySubscribers.count <= 8
            ? latencySubscribers.map(String.init).joined(separator: ",") : "\(latencySubscribers.count)"
        var lines = [
            "\(workload): \(broker.rawValue) at \(address), \(shape), \(payloadBytes)-byte payload, "
                + "\(fixed(durationSeconds)) s, "
                + (rate.map { "paced at \(perSecond($0)) msg/s" } ?? "unpaced")
                + (windowMessages.map { ", windowed (\($0) msgs in flight)" } ?? "")
                + (streamNames.first.map { ", stream \($0)" } ?? ""),
            "published       \(count(published)) msgs   \(perSecond(publishedPerSecond)) msg/s",
            "delivered       \(count(delivered)) msgs   \(perSecond(deliveredPerSecond)) msg/s   "
                + "\(fixed(deliveredMegabytesPerSecond)) MB/s payload",
            "delivery ratio  \(fixed(deliveryRatio, 4))   dropped (DROPPED) \(count(droppedReported))"
                + "   gaps seen by samplers \(count(sampledGaps))"
                + (publishErrors > 0 ? "   publish errors \(count(publishErrors))" : "")
                + (lossless ? "   lossless" : ""),
            "latency µs      p50 \(fixed(microseconds(atPercentile: 50)))"
                + "   p90 \(fixed(microseconds(atPercentile: 90)))"
                + "   p99 \(fixed(microseconds(atPercentile: 99)))   p99.9 \(fixed(microseconds(atPercentile: 99.9)))"
                + "   max \(fixed(latencyMaxMicroseconds))"
                + "   (\(count(latency.totalCount)) samples from subscribers \(listed) of \(subscribers))",
            "setup           \(fixed(setupSeconds, 2)) s",
        ]
        lines += notices.map { "note: \($0)" }
        return lines.joined(separator: "\n")
    }

    public var json: String {
        var object: [String: Any] = [
            "workload": workload,
            "broker": broker.rawValue,
            "address": address,
            "streams": streams,
            "subscribers": subscribers,
            "subscribers_per_stream": subscribersPerStream,
            "publishers": publishers,
            "payload_bytes": payloadBytes,
            "duration_s": durationSeconds,
            "rate": rate.map { $0 as Any } ?? NSNull(),
            "window_bytes": windowBytes.map { $0 as Any } ?? NSNull(),
            "window_messages": windowMessages.map { $0 as Any } ?? NSNull(),
            "lossless": lossless,
            "setup_s": setupSeconds,
            "published": published,
            "published_per_s": publishedPerSecond,
            "delivered": delivered,
            "delivered_per_s": deliveredPerSecond,
            "delivered_mb_per_s": deliveredMegabytesPerSecond,
            "bytes_read": bytesRead,
            "delivery_ratio": deliveryRatio,
            "dropped": droppedReported,
            "gaps": sampledGaps,
            "publish_errors": publishErrors,
            "latency_us": [
                "p50": microseconds(atPercentile: 50),
                "p90": microseconds(atPercentile: 90),
                "p99": microseconds(atPercentile: 99),
                "p99_9": microseconds(atPercentile: 99.9),
                "max": latencyMaxMicroseconds,
                "samples": latency.totalCount,
            ],
            "latency_subscribers": latencySubscribers,
        ]
        if let stream = streamNames.first { object["stream"] = stream }
        if !notices.isEmpty { object["notes"] = notices }
        return Self.serialize(object)
    }

    static func serialize(_ object: [String: Any]) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}
