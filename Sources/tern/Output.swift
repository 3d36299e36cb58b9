import Glibc
import Synchronization

/// stdout and stderr without stdio (whose globals Swift 6 treats as unsafe shared state).
/// stdout is buffered here and written at natural pauses (`flush`) or every 64 KiB, so a fast
/// subscriber costs one `write` per burst rather than per line; stderr is written at once.
enum Output {
    private static let flushThreshold = 64 << 10
    private static let pending = Mutex<[UInt8]>([])

    static func line(_ text: String) {
        bytesLine(Array(text.utf8))
    }

    static func bytesLine(_ bytes: [UInt8]) {
        let full = pending.withLock { buffer -> Bool in
            buffer.append(contentsOf: bytes)
            buffer.append(10)
            return buffer.count >= flushThreshold
        }
        if full { flush() }
    }

    static func notice(_ text: String) {
        writeAll(Array((text + "\n").utf8), to: 2)
    }

    static func flush() {
        let bytes = pending.withLock { buffer -> [UInt8] in
            defer { buffer.removeAll(keepingCapacity: true) }
            return buffer
        }
        writeAll(bytes, to: 1)
    }

    private static func writeAll(_ bytes: [UInt8], to fd: Int32) {
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if written > 0 {
                    offset += written
                } else if written < 0 && errno == EINTR {
                    continue
                } else {
                    return
                }
            }
        }
    }
}
