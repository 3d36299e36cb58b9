import Logging
import TernCore
import TernWire

@testable import TernReactor

/// libFuzzer entry point for the data-port session state machine: the input is a script of
/// steps (see `Step`) that three embedded connections play against one data plane with a real
/// broker and a fake clock (the test suite's `EmbeddedDataPlane`, compiled here through a
/// symlink). Limits are small so slow-consumer cuts, lapping, rate limits and subscription caps
/// happen within a few hundred bytes of input.
///
/// Checked on every input (a broken invariant traps, which libFuzzer records as a crash):
/// - every byte the server writes is a sequence of well-formed server frames;
/// - nothing follows a fatal `ERROR`, and a connection that got one is closed;
/// - answers come in request order (connections that were sent only whole, well-formed frames);
/// - per stream, `MESSAGE` sequences rise and every gap is announced by `DROPPED` exactly;
/// - a connection's queued output stays under its out-buffer's hard limit;
/// - once every connection is closed, the open-connection count is zero and no stream keeps a
///   member.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSession(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    _ = silentLogging
    let script = ScriptReader(UnsafeRawBufferPointer(start: data, count: size))
    guard let run = try? SessionRun() else { fatalError("invariant broken: the embedded data plane did not start") }
    run.play(script)
    run.finish()
    return 0
}

/// The data plane logs every fatal close at info level: thousands of lines a second here.
let silentLogging: Void = LoggingSystem.bootstrap { _ in SwiftLogNoOpLogHandler() }

func check(_ condition: Bool, _ message: @autoclosure () -> String, file: StaticString = #file, line: UInt = #line) {
    if !condition { fatalError("invariant broken: \(message())", file: file, line: line) }
}

/// Reads the input one byte at a time; past its end every byte is zero, so a script never fails
/// to parse and short inputs are short scripts.
final class ScriptReader {
    private let bytes: UnsafeRawBufferPointer
    private var offset = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    var atEnd: Bool { offset >= bytes.count }

    func byte() -> UInt8 {
        guard offset < bytes.count else { return 0 }
        defer { offset += 1 }
        return bytes[offset]
    }

    func bytes(_ count: Int) -> [UInt8] {
        let end = min(bytes.count, offset + count)
        defer { offset = end }
        return offset < end ? Array(bytes[offset..<end]) : []
    }

    func u32() -> UInt32 { (0..<4).reduce(0) { value, _ in value << 8 | UInt32(byte()) } }
}
