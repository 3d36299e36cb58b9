/// Writes metric families in the Prometheus text exposition format 0.0.4: `# HELP`, `# TYPE`,
/// then one sample per line (`name{label="value"} number`).
///
/// For the families `ternd` reads at scrape time from counters that already exist (reactor
/// statistics, broker counters): copying them into swift-metrics handlers on every scrape would
/// only add a second copy that can lag. Counters stay counters (`_total`), as Prometheus'
/// `rate()` needs.
struct MetricsText {
    private(set) var bytes: [UInt8] = []

    mutating func counter(_ name: String, help: String, _ value: UInt64) {
        header(name, help: help, type: "counter")
        sample(name, [], String(value))
    }

    mutating func counter(_ name: String, help: String, _ value: Double) {
        header(name, help: help, type: "counter")
        sample(name, [], Self.number(value))
    }

    /// One counter family with a single label, one sample per label value.
    mutating func counter(_ name: String, help: String, label: String, _ values: [(String, UInt64)]) {
        header(name, help: help, type: "counter")
        for (labelValue, value) in values { sample(name, [(label, labelValue)], String(value)) }
    }

    /// One family of any type, its samples given as (label pairs, value already formatted).
    mutating func family(_ name: String, help: String, type: String, _ samples: [([(String, String)], String)]) {
        header(name, help: help, type: type)
        for (labels, value) in samples { sample(name, labels, value) }
    }

    mutating func gauge(_ name: String, help: String, _ value: Int) {
        header(name, help: help, type: "gauge")
        sample(name, [], String(value))
    }

    /// A histogram from cumulative bucket counts: one per upper bound, then the `+Inf` count
    /// (which is also `_count`).
    mutating func histogram(
        _ name: String,
        help: String,
        upperBounds: [Double],
        cumulativeCounts: [UInt64],
        sum: Double
    ) {
        precondition(cumulativeCounts.count == upperBounds.count + 1, "one count per bound, then +Inf")
        header(name, help: help, type: "histogram")
        for (bound, count) in zip(upperBounds, cumulativeCounts) {
            sample(name + "_bucket", [("le", Self.number(bound))], String(count))
        }
        let total = cumulativeCounts.last ?? 0
        sample(name + "_bucket", [("le", "+Inf")], String(total))
        sample(name + "_sum", [], Self.number(sum))
        sample(name + "_count", [], String(total))
    }

    private mutating func header(_ name: String, help: String, type: String) {
        bytes.append(contentsOf: "# HELP \(name) ".utf8)
        for byte in help.utf8 {
            switch byte {
            case UInt8(ascii: "\\"): bytes.append(contentsOf: #"\\"#.utf8)
            case UInt8(ascii: "\n"): bytes.append(contentsOf: #"\n"#.utf8)
            default: bytes.append(byte)
            }
        }
        bytes.append(contentsOf: "\n# TYPE \(name) \(type)\n".utf8)
    }

    private mutating func sample(_ name: String, _ labels: [(String, String)], _ value: String) {
        bytes.append(contentsOf: name.utf8)
        if !labels.isEmpty {
            bytes.append(UInt8(ascii: "{"))
            for (index, (label, labelValue)) in labels.enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                bytes.append(contentsOf: "\(label)=\"".utf8)
                for byte in labelValue.utf8 {
                    switch byte {
                    case UInt8(ascii: "\\"): bytes.append(contentsOf: #"\\"#.utf8)
                    case UInt8(ascii: "\""): bytes.append(contentsOf: #"\""#.utf8)
                    case UInt8(ascii: "\n"): bytes.append(contentsOf: #"\n"#.utf8)
                    default: bytes.append(byte)
                    }
                }
                bytes.append(UInt8(ascii: "\""))
            }
            bytes.append(UInt8(ascii: "}"))
        }
        bytes.append(UInt8(ascii: " "))
        bytes.append(contentsOf: value.utf8)
        bytes.append(UInt8(ascii: "\n"))
    }

    /// A float as Prometheus parses it (Go's `ParseFloat`: `0.001`, `1e-05`, `+Inf`).
    static func number(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        return value.description
    }
}
