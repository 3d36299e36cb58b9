/// A bounds-checked cursor over one frame body. Every read either succeeds or throws
/// `MALFORMED_FRAME`; nothing reads past the body, whatever the bytes claim.
public struct WireReader {
    @usableFromInline let bytes: UnsafeRawBufferPointer
    @usableFromInline var offset = 0

    @inlinable
    public init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    public var remaining: Int { bytes.count - offset }

    @inlinable
    mutating func take(_ count: Int, _ field: StaticString) throws(WireError) -> Int {
        guard count <= bytes.count - offset else { throw Self.endsInside(field) }
        defer { offset += count }
        return offset
    }

    public mutating func readU8(_ field: StaticString) throws(WireError) -> UInt8 {
        bytes[try take(1, field)]
    }

    public mutating func readU16(_ field: StaticString) throws(WireError) -> UInt16 {
        UInt16(bigEndian: bytes.loadUnaligned(fromByteOffset: try take(2, field), as: UInt16.self))
    }

    @usableFromInline
    static func endsInside(_ field: StaticString) -> WireError {
        WireError(.malformedFrame, "body ends inside \(field)")
    }

    @inlinable
    public mutating func readU32(_ field: StaticString) throws(WireError) -> UInt32 {
        UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: try take(4, field), as: UInt32.self))
    }

    public mutating func readU64(_ field: StaticString) throws(WireError) -> UInt64 {
        UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: try take(8, field), as: UInt64.self))
    }

    /// Eight opaque bytes (the sid prefix), kept in their wire order inside a `UInt64`.
    public mutating func readBytes8(_ field: StaticString) throws(WireError) -> SidPrefix {
        let start = try take(8, field)
        return SidPrefix(bytes: UnsafeRawBufferPointer(rebasing: bytes[start..<start + 8]))
    }

    /// A `u16`-counted UTF-8 string of at most `limit` bytes.
    public mutating func readString(_ field: StaticString, limit: Int) throws(WireError) -> String {
        let count = Int(try readU16(field))
        guard count <= limit else {
            throw WireError(.malformedFrame, "\(field) of \(count) bytes exceeds \(limit)")
        }
        let start = try take(count, field)
        let slice = UnsafeRawBufferPointer(rebasing: bytes[start..<start + count])
        guard let text = String(validating: slice.bindMemory(to: UInt8.self), as: UTF8.self) else {
            throw WireError(.malformedFrame, "\(field) is not UTF-8")
        }
        return text
    }

    /// All bytes left in the body, without copying.
    @inlinable
    public mutating func readRest() -> UnsafeRawBufferPointer {
        defer { offset = bytes.count }
        return UnsafeRawBufferPointer(rebasing: bytes[offset...])
    }

    /// Fails if any byte is left after the last field.
    public func expectEnd(_ type: FrameType) throws(WireError) {
        if offset != bytes.count {
            throw WireError(.malformedFrame, "\(bytes.count - offset) unexpected bytes after the \(type) body")
        }
    }
}

/// Appends big-endian fields to a byte array. Used for every frame but the hot-path MESSAGE,
/// which is written straight into ring memory (`MessageFrame`).
public struct WireWriter {
    public var bytes: [UInt8]

    public init(capacity: Int = 64) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public mutating func u8(_ value: UInt8) { bytes.append(value) }
    public mutating func u16(_ value: UInt16) { withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) } }
    public mutating func u32(_ value: UInt32) { withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) } }
    public mutating func u64(_ value: UInt64) { withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) } }
    public mutating func bytes8(_ value: SidPrefix) { value.withBytes { bytes.append(contentsOf: $0) } }
    public mutating func raw<C: Collection>(_ value: C) where C.Element == UInt8 { bytes.append(contentsOf: value) }

    /// Writes a `u16`-counted string, cut at `limit` bytes on a character boundary.
    public mutating func string(_ value: String, limit: Int) {
        var utf8 = Array(value.utf8)
        if utf8.count > limit {
            var cut = limit
            while cut > 0 && (utf8[cut] & 0xC0) == 0x80 { cut -= 1 }
            utf8.removeSubrange(cut...)
        }
        u16(UInt16(utf8.count))
        bytes.append(contentsOf: utf8)
    }
}
