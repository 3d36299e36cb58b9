import Glibc

/// Writing to stdout and stderr without Foundation's buffering surprises: stdout is C-buffered
/// (flushed by the caller at natural pauses), stderr is unbuffered.
enum Output {
    static func line(_ text: String) {
        var text = text
        text.append("\n")
        text.withUTF8 { _ = fwrite($0.baseAddress, 1, $0.count, stdout) }
    }

    static func bytesLine(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { _ = fwrite($0.baseAddress, 1, $0.count, stdout) }
        fputc(10, stdout)
    }

    static func notice(_ text: String) {
        var text = text
        text.append("\n")
        text.withUTF8 { _ = fwrite($0.baseAddress, 1, $0.count, stderr) }
    }

    static func flush() { fflush(stdout) }
}
