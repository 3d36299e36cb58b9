import TernWire
import Testing

@testable import TernClient

/// What the async client's subscriptions report after a reconnect (`StreamPosition`, pure): every
/// lost message is counted once, by a `dropped` event or by `missed`, however the breaks fall.
struct StreamPositionTests {
    private static let run1 = SidPrefix(value: 1)
    private static let run2 = SidPrefix(value: 2)

    private static func subscribed(_ prefix: SidPrefix, next: UInt64) -> Frame.Subscribed {
        Frame.Subscribed(
            requestID: 1,
            streamID: 7,
            sidPrefix: prefix,
            nextSequence: next,
            streamSid: "TO1",
            uniqueName: ""
        )
    }

    @Test func messagesPublishedDuringABreakAreMissedOnce() {
        var position = StreamPosition(Self.subscribed(Self.run1, next: 5))
        #expect(position.reached == 4)
        position.received(5)
        position.received(6)
        let first = position.subscribedAgain(Self.subscribed(Self.run1, next: 10))
        #expect(first.lastSequence == 6 && first.nextSequence == 10 && first.missed == 3 && !first.serverRestarted)
        // A second break before any new message: 7–9 were counted already.
        let second = position.subscribedAgain(Self.subscribed(Self.run1, next: 12))
        #expect(second.lastSequence == 9 && second.missed == 2)
    }

    @Test func aDroppedCountIsNotMissedAgain() {
        var position = StreamPosition(Self.subscribed(Self.run1, next: 1))
        position.received(1)
        position.lost(4)  // DROPPED 4: sequences 2–5
        let back = position.subscribedAgain(Self.subscribed(Self.run1, next: 8))
        #expect(back.lastSequence == 5 && back.missed == 2)
    }

    @Test func aNewStartBeforeThePositionMissesNothing() {
        var position = StreamPosition(Self.subscribed(Self.run1, next: 1))
        position.received(9)
        let back = position.subscribedAgain(Self.subscribed(Self.run1, next: 4))
        #expect(back.missed == 0 && position.reached == 9)
    }

    @Test func aRestartCannotBeCountedAndStartsTheNewRun() {
        var position = StreamPosition(Self.subscribed(Self.run1, next: 1))
        position.received(30)
        let back = position.subscribedAgain(Self.subscribed(Self.run2, next: 3))
        #expect(back.serverRestarted && back.missed == nil && back.lastSequence == 30)
        #expect(position.sidPrefix == Self.run2 && position.reached == 2)
    }

    @Test func resumeContinuesOrStartsTheNewRun() {
        var position = StreamPosition(Self.subscribed(Self.run1, next: 1))
        position.received(3)
        position.subscribedToResume(Self.subscribed(Self.run1, next: 4))
        let continued = position.resumed(after: 3, continued: true)
        #expect(continued.resumed && continued.missed == 0 && position.reached == 3)
        position.subscribedToResume(Self.subscribed(Self.run2, next: 1))
        let restarted = position.resumed(after: 3, continued: false)
        #expect(restarted.serverRestarted && restarted.missed == nil && restarted.lastSequence == 3)
        #expect(position.sidPrefix == Self.run2 && position.reached == 0)
    }
}
