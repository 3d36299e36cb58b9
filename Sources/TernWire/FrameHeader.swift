/// The 8-byte header in front of every frame (protocol.md, section 2).
public struct FrameHeader: Equatable, Sendable {
    /// Body bytes after the header.
    public var length: UInt32
    public var type: FrameType
    public var flags: UInt8

    @inlinable
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
    @inlinable
    public static func parse(_ bytes: UnsafeRawBufferPointer, maxBody: Int) throws(WireError) -> FrameHeader {
        // Inlined into the reactor's frame loop: the checks are a few compares, and the errors
        // are built out of line (`refusal`), off the path every frame takes.
        let length = bytes.loadBigEndianUInt32(at: 0)
        let rawType = bytes[4]
        let flags = bytes[5]
        let type: FrameType? = rawType == FrameType.publish.rawValue ? .publish : FrameType(rawValue: rawType)
        guard Int(length) <= maxBody, let type, bytes.loadUnaligned(fromByteOffset: 6, as: UInt16.self) == 0,
            flags & ~type.definedFlags == 0
        else { return try parseBeyondLimit(bytes, maxBody: maxBody) }
        return FrameHeader(length: length, type: type, flags: flags)
    }

    /// A header `parse` did not pass at once: a HELLO or REFRESH_TOKEN over `maxBody` but within
    /// its type's fixed allowance (`FrameType.fixedBodyAllowance`) is accepted; anything else is
    /// refused. Out of line: only token frames come here.
    @usableFromInline
    static func parseBeyondLimit(_ bytes: UnsafeRawBufferPointer, maxBody: Int) throws(WireError) -> FrameHeader {
        let length = bytes.loadBigEndianUInt32(at: 0)
        if let type = FrameType(rawValue: bytes[4]), Int(length) <= max(maxBody, type.fixedBodyAllowance),
            bytes[6] == 0, bytes[7] == 0, bytes[5] & ~type.definedFlags == 0
        {
            return FrameHeader(length: length, type: type, flags: bytes[5])
        }
        throw refusal(bytes, maxBody: maxBody)
    }

    /// Why `parse` refused a header, checked in the order protocol.md gives.
    @usableFromInline
    static func refusal(_ bytes: UnsafeRawBufferPointer, maxBody: Int) -> WireError {
        let length = bytes.loadBigEndianUInt32(at: 0)
        let rawType = bytes[4]
        let flags = bytes[5]
        let allowance = FrameType(rawValue: rawType)?.fixedBodyAllowance ?? 0
        if Int(length) > max(maxBody, allowance) {
            return WireError(
                .frameTooLarge,
                "frame body of \(length) bytes exceeds the limit of \(max(maxBody, allowance))"
            )
        }
        guard let type = FrameType(rawValue: rawType) else {
            return WireError(.unknownFrameType, "unknown frame type 0x\(String(rawType, radix: 16))")
        }
        if bytes[6] != 0 || bytes[7] != 0 {
            return WireError(.malformedFrame, "reserved header bytes must be zero")
        }
        return WireError(.malformedFrame, "undefined flags 0x\(String(flags, radix: 16)) on \(type)")
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
