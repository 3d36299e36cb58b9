import Benchmark
import TernWire

/// The codec: what the server does per PUBLISH read and per MESSAGE written, and the owned
/// `Frame` API clients use (which allocates by design).
func registerWireBenchmarks() {
    let payload = jsonPayload(size: 64)

    // Server side, per message: parse a PUBLISH in place (no copy of the payload).
    Benchmark("Wire: parse PUBLISH in place (64 B)", configuration: BenchSettings.allocationFree()) { benchmark in
        let frame = Frame.publish(.init(requestID: 0, streamID: 3, payload: payload)).encoded()
        let splitter = FrameSplitter(maxBody: 8192)
        var checksum = 0
        frame.withUnsafeBytes { bytes in
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                guard let slice = try? splitter.next(in: bytes, at: 0),
                    let view = try? PublishView(
                        header: slice.header,
                        body: UnsafeRawBufferPointer(rebasing: bytes[slice.bodyStart..<slice.end])
                    )
                else { fatalError("bench frame did not parse") }
                checksum &+= view.payload.count &+ Int(view.streamID)
            }
            benchmark.stopMeasurement()
        }
        blackHole(checksum)
    }

    // Server side, per message: the 20-byte MESSAGE prefix written straight into memory.
    Benchmark("Wire: write MESSAGE prefix", configuration: BenchSettings.allocationFree()) { benchmark in
        let destination = UnsafeMutableRawPointer.allocate(byteCount: MessageFrame.prefixSize, alignment: 8)
        defer { destination.deallocate() }
        benchmark.startMeasurement()
        for index in benchmark.scaledIterations {
            MessageFrame.writePrefix(streamID: 3, sequence: UInt64(index), payloadCount: 64, to: destination)
        }
        benchmark.stopMeasurement()
        blackHole(destination.load(fromByteOffset: 19, as: UInt8.self))
    }

    // Client side: owned frames (arrays), so allocations are expected and shown.
    Benchmark("Wire: encode Frame.publish to [UInt8] (64 B)", configuration: BenchSettings.measured()) { benchmark in
        let frame = Frame.publish(.init(requestID: 7, streamID: 3, payload: payload))
        var out: [UInt8] = []
        out.reserveCapacity(256)
        for _ in benchmark.scaledIterations {
            out.removeAll(keepingCapacity: true)
            frame.encode(into: &out)
        }
        blackHole(out.count)
    }

    Benchmark("Wire: decode Frame.message (64 B)", configuration: BenchSettings.measured()) { benchmark in
        let bytes = Frame.message(.init(streamID: 3, sequence: 41, payload: payload)).encoded()
        var checksum = 0
        bytes.withUnsafeBytes { raw in
            let header = try! FrameHeader.parse(raw, maxBody: 8192)
            let body = UnsafeRawBufferPointer(rebasing: raw[WireLimits.headerSize...])
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                if case .message(let message) = try! Frame.decode(header: header, body: body) {
                    checksum &+= message.payload.count
                }
            }
            benchmark.stopMeasurement()
        }
        blackHole(checksum)
    }
}
