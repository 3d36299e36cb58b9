import TernWire
import Testing

/// `FrameWalker` finds whole frames by their length fields alone, stops at a partial frame, and
/// with a bound never takes a frame past it unless that frame is the first.
@Suite("FrameWalker")
struct FrameWalkerTests {
    /// Three MESSAGE frames of 20 + 4, 20 + 10 and 20 + 1 bytes, end to end.
    static let frames: [UInt8] = [4, 10, 1].enumerated().flatMap { index, count in
        Frame.message(.init(streamID: 1, sequence: UInt64(index + 1), payload: Array(repeating: 0x61, count: count)))
            .encoded()
    }

    static func walk(_ bytes: ArraySlice<UInt8>, upTo limit: Int = .max) -> (bytes: Int, lastStart: Int) {
        Array(bytes).withUnsafeBytes { FrameWalker.wholeFrames($0, upTo: limit) }
    }

    @Test("whole frames and the last one's start; a partial frame or header is left out")
    func wholeFrames() {
        #expect(Self.walk(Self.frames[...]) == (75, 54))
        #expect(Self.walk(Self.frames[..<74]) == (54, 24))
        #expect(Self.walk(Self.frames[..<(54 + 7)]) == (54, 24))
        #expect(Self.walk(Self.frames[..<24]) == (24, 0))
        #expect(Self.walk(Self.frames[..<23]) == (0, 0))
        #expect(Self.walk([]) == (0, 0))
    }

    @Test("a bound ends the run before the frame that would cross it, but never before the first")
    func bounded() {
        #expect(Self.walk(Self.frames[...], upTo: 75) == (75, 54))
        #expect(Self.walk(Self.frames[...], upTo: 74) == (54, 24))
        #expect(Self.walk(Self.frames[...], upTo: 54) == (54, 24))
        #expect(Self.walk(Self.frames[...], upTo: 53) == (24, 0))
        #expect(Self.walk(Self.frames[...], upTo: 1) == (24, 0))
        #expect(Self.walk(Self.frames[...], upTo: 0) == (24, 0))
        #expect(Self.walk(Self.frames[...], upTo: -5) == (24, 0))
        #expect(Self.walk(Self.frames[..<23], upTo: 1) == (0, 0))
    }

    @Test("a length past the bytes, however large, ends the walk without reading past them")
    func lengthsPastTheEnd() {
        var torn = Self.frames
        torn.replaceSubrange(24..<28, with: [0xFF, 0xFF, 0xFF, 0xF0])
        #expect(Self.walk(torn[...]) == (24, 0))
        #expect(Self.walk(torn[...], upTo: 30) == (24, 0))
        torn.replaceSubrange(0..<4, with: [0xFF, 0xFF, 0xFF, 0xFF])
        #expect(Self.walk(torn[...]) == (0, 0))
        #expect(Self.walk(torn[...], upTo: 8) == (0, 0))
    }

    @Test("frame starts and the first frame's size")
    func startsAndSizes() {
        var starts: [Int] = []
        Self.frames.withUnsafeBytes { FrameWalker.frameStarts($0, into: &starts) }
        #expect(starts == [0, 24, 54])
        #expect(Self.frames.withUnsafeBytes { FrameWalker.firstFrameSize($0) } == 24)
    }
}
