import Foundation
import Logging
import Synchronization
import TernCore

/// swift-log output for the daemon, to stderr.
///
/// Under systemd (`JOURNAL_STREAM` set) each line starts with a syslog priority prefix (`<6>`)
/// and carries no timestamp, because journald adds its own and reads the prefix as the priority.
/// Elsewhere lines carry an ISO 8601 timestamp and the level in words. The level is shared and
/// can be changed while running (SIGHUP reload). Repeats are limited (`LogRepeatLimiter`): a
/// line after a suppressed run carries `suppressed_similar=N`.
struct DaemonLogHandler: LogHandler {
    /// The level all handlers use; `LogLevelSwitch.set` changes it live.
    static let levelSwitch = LogLevelSwitch()
    /// Lines from one call site beyond a burst and one a second are dropped and counted.
    static let repeats = LogRepeatLimiter.shared

    let label: String
    let toJournal: Bool
    var metadata: Logger.Metadata = [:]
    /// Set when one logger asks for its own level; otherwise the shared, reloadable level applies.
    private var ownLevel: Logger.Level?

    init(label: String, toJournal: Bool = ProcessInfo.processInfo.environment["JOURNAL_STREAM"] != nil) {
        self.label = label
        self.toJournal = toJournal
    }

    var logLevel: Logger.Level {
        get { ownLevel ?? Self.levelSwitch.level }
        set { ownLevel = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        guard
            let skipped = Self.repeats.admit(
                callSite: "\(event.file):\(event.line)",
                nanoseconds: MonotonicTime.nanoseconds()
            )
        else { return }
        var fields = metadata
        if skipped > 0 { fields["suppressed_similar"] = "\(skipped)" }
        if let extra = event.metadata { fields.merge(extra) { $1 } }
        let suffix =
            fields.isEmpty
            ? "" : " " + fields.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let line: String
        if toJournal {
            line = "<\(Self.syslogPriority(event.level))>\(event.message)\(suffix)\n"
        } else {
            line = "\(Self.timestamp()) \(event.level) \(label): \(event.message)\(suffix)\n"
        }
        FileHandle.standardError.write(Data(line.utf8))
    }

    static func syslogPriority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }

    private static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
            parts.tm_year + 1900,
            parts.tm_mon + 1,
            parts.tm_mday,
            parts.tm_hour,
            parts.tm_min,
            parts.tm_sec,
            Int(now.tv_nsec / 1_000_000)
        )
    }
}

/// The daemon's current log level, shared by every logger.
final class LogLevelSwitch: Sendable {
    private let raw = Atomic<Int>(Logger.Level.info.index)

    var level: Logger.Level {
        get { Logger.Level.allCases[raw.load(ordering: .relaxed)] }
        set { raw.store(newValue.index, ordering: .relaxed) }
    }
}

extension Logger.Level {
    fileprivate var index: Int { Logger.Level.allCases.firstIndex(of: self)! }
}
