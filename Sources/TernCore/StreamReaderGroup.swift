/// A consumer of stream frames that serves many subscribers at once: in `ternd`, one reactor
/// thread. The broker core knows reader groups only through this protocol, so it never touches
/// sockets.
///
/// Both methods are called from publishing threads (reactor or control API) and must only
/// enqueue work and wake the group; they must not block.
public protocol StreamReaderGroup: AnyObject, Sendable {
    /// `stream` has frames this group has not drained. Called once per dirty period: the group
    /// clears its bit in `stream.dirtyMask` before draining, which arms the next call.
    func streamHasNewFrames(_ stream: BrokerStream)

    /// `stream` ended (`stream.ended` says why). Called once, for groups in `stream.memberMask`.
    /// The group drains what is left, tells its subscribers and forgets the stream.
    func streamEnded(_ stream: BrokerStream)

    /// The API key `keySid` was deleted: the group ends its connections authenticated by it.
    /// Called once per group.
    func keyRevoked(_ keySid: String)

    /// Cluster mode: `lane` (the messages of `lane.laneOf` published on another node) was opened
    /// on this node. The group joins its version-3 subscribers of the stream to it from its
    /// first message. Called once, for groups in the stream's `memberMask`.
    func laneOpened(_ lane: BrokerStream)
}

extension StreamReaderGroup {
    public func laneOpened(_ lane: BrokerStream) {}
}
