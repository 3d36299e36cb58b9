import TernWire

/// How far a subscription has come in its stream, for what a reconnect reports and asks for:
/// the run (sid prefix) and the newest sequence it has accounted for, received or counted lost
/// (by a `DROPPED`, or as `missed` after a resubscribe). Each loss is thus counted once, however
/// many breaks follow. Pure; the socket and the shared-memory subscriptions both keep one.
struct StreamPosition: Sendable, Equatable {
    /// The run the sequences belong to.
    private(set) var sidPrefix: SidPrefix
    /// The first sequence of the current subscription (from its SUBSCRIBED).
    private(set) var nextSequence: UInt64
    /// The newest sequence accounted for; a resume continues after it.
    private(set) var reached: UInt64

    init(_ subscribed: Frame.Subscribed) {
        sidPrefix = subscribed.sidPrefix
        nextSequence = subscribed.nextSequence
        reached = subscribed.nextSequence - 1
    }

    mutating func received(_ sequence: UInt64) { reached = max(reached, sequence) }

    /// A `DROPPED` (or a ring lap): the `count` messages after `reached` are lost.
    mutating func lost(_ count: UInt64) { reached &+= count }

    /// Subscribed again after a break, without RESUME: what was published meanwhile is
    /// `missed`, and counted from then on; unknown if the server restarted (a new sid prefix).
    mutating func subscribedAgain(_ subscribed: Frame.Subscribed) -> Resubscription {
        let since = reached
        let first = subscribed.nextSequence
        let restarted = subscribed.sidPrefix != sidPrefix
        sidPrefix = subscribed.sidPrefix
        nextSequence = first
        reached = restarted ? first - 1 : max(since, first - 1)
        return Resubscription(
            lastSequence: since,
            nextSequence: first,
            serverRestarted: restarted,
            resumed: false,
            missed: restarted ? nil : first - min(since + 1, first)
        )
    }

    /// The SUBSCRIBED that answers a RESUME sent after `reached`: its messages carry the new
    /// run's prefix; the RESUMED after them says whether the run continued (`resumed`).
    mutating func subscribedToResume(_ subscribed: Frame.Subscribed) {
        sidPrefix = subscribed.sidPrefix
        nextSequence = subscribed.nextSequence
    }

    /// RESUMED for a RESUME sent after `after`: nothing lost but what `DROPPED` frames count
    /// next, or, if the run did not continue, the new run from its start.
    mutating func resumed(after: UInt64, continued: Bool) -> Resubscription {
        if !continued { reached = nextSequence - 1 }
        return Resubscription(
            lastSequence: after,
            nextSequence: nextSequence,
            serverRestarted: !continued,
            resumed: true,
            missed: continued ? 0 : nil
        )
    }
}
