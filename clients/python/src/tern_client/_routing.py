"""Frames that are not answers (MESSAGE, DROPPED, LANE, STREAM_ENDED, RESUMED, TOKEN_EXPIRING),
routed to their subscriptions by stream id or cluster lane id, and subscriptions forgotten."""

from __future__ import annotations

from typing import List, Optional, Set

from ._connection_core import ConnectionCore
from ._session import Session
from .codec import Dropped, EndReason, Frame, Lane, Message, Resumed, StreamEndedFrame, TokenExpiring
from .exceptions import StreamEnded
from .models import Resubscribed, StreamInfo
from .subscription import Subscription, SubscriptionLane


class FrameRouting(ConnectionCore):
    """Delivers a session's frames to the subscriptions (the hot path: one dict lookup a MESSAGE)."""

    def _on_frames(self, session: Session, frames: List[Frame]) -> None:
        """MESSAGE, DROPPED, LANE, STREAM_ENDED, RESUMED and TOKEN_EXPIRING frames of the current
        session, in arrival order."""
        if session is not self._session:
            return
        routes = self._routes
        lanes = self._lanes
        woken: Set[Subscription] = set()
        last: Optional[Subscription] = None
        for frame in frames:
            if type(frame) is Message:
                sub = routes.get(frame.stream_id)
                if sub is not None:
                    if sub.attach_only:
                        continue
                    frame.stream = sub.info
                    sub.last_sequence = frame.sequence
                else:
                    # Another cluster node's message: its lane's sid prefix and sequence, which
                    # never move the stream's own position (resume continues after that).
                    lane = lanes.get(frame.stream_id)
                    if lane is None:
                        continue
                    sub = lane.subscription
                    frame.stream = lane.stream
                    lane.last_sequence = frame.sequence
                sub._events.append(frame)
                if sub is not last:
                    woken.add(sub)
                    last = sub
            elif isinstance(frame, Dropped):
                sub = routes.get(frame.stream_id)
                if sub is not None:
                    frame.stream = sub.info
                    sub._count_lost(frame.count)
                else:
                    lane = lanes.get(frame.stream_id)
                    if lane is None:
                        continue
                    sub = lane.subscription
                    frame.stream = lane.stream
                sub._events.append(frame)
                woken.add(sub)
            elif type(frame) is Lane:
                self._lane_opened(frame)
            elif isinstance(frame, StreamEndedFrame):
                self._stream_ended(frame)
            elif isinstance(frame, TokenExpiring) and self._on_token_expiring is not None:
                self._on_token_expiring(frame)
            elif type(frame) is Resumed:
                sub = routes.get(frame.stream_id)
                if sub is not None and sub._resume_from is not None:
                    sub._events.append(self._resumed_event(sub, frame))
                    woken.add(sub)
        limit = self.max_pending
        for sub in woken:
            sub._wake()
            if len(sub._events) > limit and not sub._holding:
                sub._holding = True
                sub._resume_level = limit // 2
                self._holding.add(sub)
                session.pause_reading(True)

    @staticmethod
    def _resumed_event(sub: Subscription, resumed: Resumed) -> Resubscribed:
        """The Resubscribed event for a RESUMED: on CONTINUED nothing is lost but what DROPPED
        frames (reason NOT_RETAINED) count next; on RESTARTED the old run's loss is unknown."""
        assert sub._resume_from is not None
        _, since = sub._resume_from
        sub._resume_from = None
        restarted = not resumed.continued
        if restarted:
            sub.last_sequence = 0
            sub._lost_through = 0
        return Resubscribed(sub.info, since, sub.next_sequence, restarted, None if restarted else 0, resumed=True)

    def _lane_opened(self, frame: Lane) -> None:
        """LANE: route ``lane_id`` to the receiving subscription of ``stream_id``."""
        sub = self._routes.get(frame.stream_id)
        if sub is None or sub.attach_only:
            return
        old = sub.info
        stream = StreamInfo(old.stream_sid, old.unique_name, frame.lane_id, frame.sid_prefix)
        lane = SubscriptionLane(sub, stream, frame.next_sequence)
        sub.lanes[frame.lane_id] = lane
        self._lanes[frame.lane_id] = lane

    def _forget_lanes(self, sub: Subscription) -> None:
        for lane_id, lane in sub.lanes.items():
            if self._lanes.get(lane_id) is lane:
                del self._lanes[lane_id]
        sub.lanes.clear()

    def _stream_ended(self, frame: StreamEndedFrame) -> None:
        if frame.reason == EndReason.SHUTDOWN and self.reconnect and not self._closing:
            return  # the server is stopping, not the stream: resubscribe after the reconnect
        for sub in [s for s in self._subscriptions if s.info.stream_id == frame.stream_id and s.active]:
            if sub._mapped is not None:
                sub._mapped.ended(frame.reason)  # after the ring's last messages
                continue
            self._forget(sub)
            sub._finish(StreamEnded(sub.info.stream_sid, frame.reason))

    def _forget(self, sub: Subscription) -> None:
        if sub._mapped is not None:
            sub._mapped.stop()
            sub._mapped = None
        if sub._holding:
            self._release(sub)
        if sub in self._subscriptions:
            self._subscriptions.remove(sub)
        self._forget_lanes(sub)  # a stream's lanes end with it (protocol.md §4.20)
        if self._routes.get(sub.info.stream_id) is sub:
            del self._routes[sub.info.stream_id]
            other = next((s for s in self._subscriptions if s.info.stream_id == sub.info.stream_id), None)
            if other is not None:
                self._routes[sub.info.stream_id] = other

    def _end_all(self, error: Optional[BaseException]) -> None:
        subs, self._subscriptions = self._subscriptions, []
        for sub in subs:
            sub.lanes.clear()
            if sub._mapped is not None:
                sub._mapped.stop()
                sub._mapped = None
        self._holding.clear()
        self._routes.clear()
        self._lanes.clear()
        self._publishers.clear()
        for sub in subs:
            sub._finish(error)
