import NIOCore
import TernWire

extension AsyncConnectionCore {
    // MARK: Frames from the server

    func dispatch(_ frame: Frame) {
        switch frame {
        case .message(let message):
            if let (subscription, prefix) = laneRoutes[message.streamID] {
                // A lane (cluster, version 3): another node's messages, with that node's sids.
                deliver(subscription, .message(message, messageSid: prefix.messageSid(sequence: message.sequence)))
                return
            }
            guard let subscription = routes[message.streamID] else { return }
            subscription.position.received(message.sequence)
            deliver(
                subscription,
                .message(message, messageSid: subscription.position.sidPrefix.messageSid(sequence: message.sequence))
            )
        case .lane(let lane):
            guard let subscription = routes[lane.streamID] else { return }
            laneRoutes[lane.laneID] = (subscription, lane.sidPrefix)
        case .dropped(let dropped):
            if let subscription = routes[dropped.streamID] { subscription.position.lost(dropped.count) }
            guard let subscription = routes[dropped.streamID] ?? laneRoutes[dropped.streamID]?.0 else { return }
            deliver(subscription, .dropped(count: dropped.count, reason: dropped.reason, rawReason: dropped.rawReason))
        case .subscribed(let subscribed):
            answer(subscribed.requestID, frame)
        case .resumed(let resumed):
            guard let subscription = routes[resumed.streamID], let after = subscription.resumedAfter else { return }
            subscription.resumedAfter = nil
            let back = subscription.position.resumed(after: after, continued: resumed.outcome == .continued)
            deliver(subscription, .resubscribed(back))
        case .unsubscribed(let requestID, _):
            answer(requestID, frame)
        case .published(let published):
            answer(published.requestID, frame)
        case .streamEnded(let streamID, let reason):
            // SHUTDOWN: the server stops, not the stream; the reconnect restores it.
            if reason == .shutdown && client.reconnect.enabled && !closing { return }
            attached = attached.filter { $0.value != streamID }
            guard let subscription = routes.removeValue(forKey: streamID) else { return }
            laneRoutes = laneRoutes.filter { $0.value.0 !== subscription }
            subscriptions.removeAll { $0 === subscription }
            subscription.continuation.finish(
                throwing: TernClientError.streamEnded(streamSid: subscription.streamSid, reason: reason)
            )
        case .error(let error):
            if !error.fatal { answer(error.requestID, frame) }
        case .ping(let opaque):
            send(.pong(opaque))
        default:
            break
        }
    }

    /// Hands an event to a subscription's iterator. Past `maxPending` events not yet taken the
    /// connection stops reading its socket, so the server, not this process, holds (and when
    /// its out-buffer is full, drops and counts) what a slow consumer cannot take.
    func deliver(_ subscription: SubscriptionState, _ event: SubscriptionEvent) {
        subscription.continuation.yield(event)
        subscription.buffered += 1
        if subscription.buffered > client.maxPending && !readingPaused {
            readingPaused = true
            _ = channel?.setOption(ChannelOptions.autoRead, value: false)
        }
    }

    func resumeReadingIfDrained() {
        guard readingPaused, subscriptions.allSatisfy({ $0.buffered <= client.maxPending / 2 }) else { return }
        readingPaused = false
        _ = channel?.setOption(ChannelOptions.autoRead, value: true)
    }

    func answer(_ requestID: UInt32, _ frame: Frame) {
        guard let entry = pending.removeValue(forKey: requestID) else {
            if abandoned.remove(requestID) != nil, case .subscribed(let late) = frame {
                send(.unsubscribe(requestID: 0, streamID: late.streamID))  // nobody wants it any more
            }
            return
        }
        switch (entry, frame) {
        case (.request(let continuation), .error(let error)):
            continuation.resume(throwing: TernClientError.server(error))
        case (.request(let continuation), _):
            continuation.resume(returning: frame)
        case (.subscribe(let name, let continuation), .subscribed(let subscribed)):
            // Routed now, before the frames right behind the answer are handled.
            let (events, sink) = AsyncThrowingStream<SubscriptionEvent, any Error>.makeStream()
            nextSubscriptionKey += 1
            let key = nextSubscriptionKey
            let subscription = SubscriptionState(key: key, name: name, continuation: sink, subscribed: subscribed)
            sink.onTermination = { [weak self] _ in
                Task { await self?.released(key) }
            }
            subscriptions.append(subscription)
            routes[subscribed.streamID] = subscription
            continuation.resume(
                returning: TernSubscription(
                    streamSid: subscribed.streamSid,
                    uniqueName: subscribed.uniqueName,
                    streamID: subscribed.streamID,
                    nextSequence: subscribed.nextSequence,
                    events: events,
                    core: self,
                    key: key
                )
            )
        case (.subscribe(_, let continuation), .error(let error)):
            continuation.resume(throwing: TernClientError.server(error))
        case (.restore(let subscription, _), .subscribed(let subscribed))
        where !subscriptions.contains(where: { $0 === subscription }):
            send(.unsubscribe(requestID: 0, streamID: subscribed.streamID))  // released meanwhile
        case (.restore(let subscription, let resuming), .subscribed(let subscribed)):
            subscription.streamID = subscribed.streamID
            subscription.streamSid = subscribed.streamSid
            routes[subscribed.streamID] = subscription
            if resuming {
                subscription.position.subscribedToResume(subscribed)
            } else {
                deliver(subscription, .resubscribed(subscription.position.subscribedAgain(subscribed)))
            }
        case (.restore(let subscription, _), .error(let error)):
            subscriptions.removeAll { $0 === subscription }
            subscription.continuation.finish(throwing: TernClientError.server(error))
        default:
            break
        }
    }
}
