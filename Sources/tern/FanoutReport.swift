import Foundation
import Histogram

/// The numbers a fanout bench prints, as text or JSON.
struct FanoutReport {
    var subscribers: Int
    var payloadBytes: Int
    var durationSeconds: Double
    var rate: Double?
    var streamSid: String
    var published: UInt64
    var publishSeconds: Double
    var delivered: UInt64
    var deliveredPayloadBytes: UInt64
    /// From the first publish to the last delivery.
    var deliverySeconds: Double
    var droppedReported: UInt64
    var publishErrors: UInt64
    var latencySubscribers: [Int]
    var latency: Histogram<UInt64>
    var notices: [String]

    var publishedPerSecond: Double { publishSeconds > 0 ? Double(published) / publishSeconds : 0 }
    var deliveredPerSecond: Double { deliverySeconds > 0 ? Double(delivered) / deliverySeconds : 0 }
    /// Payload megabytes (10^6 bytes) per second.
    var deliveredMegabytesPerSecond: Double {
        deliverySeconds > 0 ? Double(deliveredPayloadBytes) / deliverySeconds / 1e6 : 0
    }
    var deliveryRatio: Double {
        published > 0 ? Double(delivered) / (Double(published) * Double(subscribers)) : 0
    }

    private func microseconds(atPercentile percentile: Double) -> Double {
        latency.totalCount > 0 ? Double(latency.valueAtPercentile(percentile)) / 1000 : 0
    }

    private var latencyMaxMicroseconds: Double { latency.totalCount > 0 ? Double(latency.max) / 1000 : 0 }

    var samplingDescription: String {
        let listed = latencySubscribers.map(String.init).joined(separator: ",")
        return "subscribers \(listed) (\(latencySubscribers.count) of \(subscribers)), every message"
    }

    var text: String {
        func count(_ value: UInt64) -> String { value.formatted(.number) }
        func perSecond(_ value: Double) -> String { Int(value.rounded()).formatted(.number) }
        func fixed(_ value: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", value) }
        var lines = [
            "fanout: \(subscribers) subscribers, \(payloadBytes)-byte payload, \(fixed(durationSeconds)) s, "
                + (rate.map { "paced at \(perSecond($0)) msg/s" } ?? "unpaced") + ", stream \(streamSid)",
            "published       \(count(published)) msgs   \(perSecond(publishedPerSecond)) msg/s",
            "delivered       \(count(delivered)) msgs   \(perSecond(deliveredPerSecond)) msg/s   "
                + "\(fixed(deliveredMegabytesPerSecond)) MB/s payload",
            "delivery ratio  \(fixed(deliveryRatio, 4))   dropped (DROPPED) \(count(droppedReported))"
                + (publishErrors > 0 ? "   publish errors \(count(publishErrors))" : ""),
            "latency µs      p50 \(fixed(microseconds(atPercentile: 50)))   p99 \(fixed(microseconds(atPercentile: 99)))"
                + "   p99.9 \(fixed(microseconds(atPercentile: 99.9)))   max \(fixed(latencyMaxMicroseconds))"
                + "   (\(count(latency.totalCount)) samples from \(samplingDescription))",
        ]
        lines += notices.map { "note: \($0)" }
        return lines.joined(separator: "\n")
    }

    var json: String {
        var object: [String: Any] = [
            "subscribers": subscribers,
            "payload_bytes": payloadBytes,
            "duration_s": durationSeconds,
            "rate": rate.map { $0 as Any } ?? NSNull(),
            "stream": streamSid,
            "published": published,
            "published_per_s": publishedPerSecond,
            "delivered": delivered,
            "delivered_per_s": deliveredPerSecond,
            "delivered_mb_per_s": deliveredMegabytesPerSecond,
            "delivery_ratio": deliveryRatio,
            "dropped": droppedReported,
            "publish_errors": publishErrors,
            "latency_us": [
                "p50": microseconds(atPercentile: 50),
                "p99": microseconds(atPercentile: 99),
                "p99_9": microseconds(atPercentile: 99.9),
                "max": latencyMaxMicroseconds,
                "samples": latency.totalCount,
            ],
            "latency_subscribers": latencySubscribers,
        ]
        if !notices.isEmpty { object["notes"] = notices }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}
