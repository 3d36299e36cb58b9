/// The 8-byte header in front of every frame (protocol.md, section 2).
public struct FrameHeader: Equatable, Sendable {
    /// Body bytes after the header.
    public var length: UInt32
    public var type: FrameType
    public var flags: UInt8

    public init(length: UInt32, type: FrameType, flags: UInt8 = 0) {
        self.length = length
        self.type = type
        self.flags = flags
    }

    /// Validates a header as soon as its 8 bytes are in: the length limit, the type, the flags and
    /// the reserved bytes are all checked before the body is awaited, so an oversize frame is
    /// refused without buffering it.
    ///
    /// - Precondition: `bytes.count >= WireLimits.headerSize`.
    public static func parse(_ bytes: UnsafeRawBufferPointer, maxBody: Int) throws(WireError) -> FrameHeader {
        let length = bytes.loadBigEndianUInt32(at: 0)
        let rawType = bytes[4]
        let flags = bytes[5]
        if Int(length) > maxBody {
            throw WireError(.frameTooLarge, "frame body of \(length) bytes exceeds the limit of \(maxBody)")
        }
        guard let type = FrameType(rawValue: rawType) else {
            throw WireError(.unknownFrameType, "unknown frame type 0x\(String(rawType, radix: 16))")
        }
        if bytes[6] != 0 || bytes[7] != 0 {
            throw WireError(.malformedFrame, "reserved header bytes must be zero")
        }
        if flags & ~type.definedFlags != 0 {
            throw WireError(.malformedFrame, "undefined flags 0x\(String(flags, radix: 16)) on \(type)")
        }
        return FrameHeader(length: length, type: type, flags: flags)
    }

    /// Writes the header into `destination`, which must have room for 8 bytes.
    @inlinable
    public static func write(length: UInt32, type: FrameType, flags: UInt8, to destination: UnsafeMutableRawPointer) {
        destination.storeBytes(of: length.bigEndian, as: UInt32.self)
        destination.storeBytes(of: type.rawValue, toByteOffset: 4, as: UInt8.self)
        destination.storeBytes(of: flags, toByteOffset: 5, as: UInt8.self)
        destination.storeBytes(of: UInt16(0), toByteOffset: 6, as: UInt16.self)
    }
}

extension UnsafeRawBufferPointer {
    @inlinable
    func loadBigEndianUInt32(at offset: Int) -> UInt32 {
        UInt32(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }
}
