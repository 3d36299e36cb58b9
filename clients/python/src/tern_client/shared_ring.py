"""A stream's ring mapped read-only from ternd (protocol.md §4.16-4.19), and the thread that
follows it for an asyncio :class:`~tern_client.Connection`.

All the client's pointer code for shared memory is here: the mapping (``mmap`` through ctypes, for
an address ``ctypes`` can load words from), the seqlock read, the loss count and the futex.
The mapping is ``PROT_READ`` and the memfd is sealed, so nothing here can write to it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
import struct
import threading
import time
from typing import Callable, List, Optional, Union

from .codec import Message

__all__ = ["RingEvent", "RingFollower", "SharedRing", "shared_memory_supported"]

_LAYOUT_VERSION = 1
_MAGIC = b"TERNRING"
_TAIL_INTENT = 64
_TAIL = 72
_LATEST = 80
_NOTIFY = 88
_END_REASON = 92
_HEADER = 8
_MESSAGE_PREFIX = 20
_READ_ATTEMPTS = 8

_PROT_READ = 0x1
_MAP_SHARED = 0x01
_FUTEX_WAIT = 0
_SYS_FUTEX = {"x86_64": 202, "AMD64": 202}

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_libc.syscall.restype = ctypes.c_long

_FRAME_HEAD = struct.Struct(">I")
_SEQUENCE = struct.Struct(">Q")


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


def shared_memory_supported() -> bool:
    """Whether this interpreter can read a shared ring: Linux on x86-64, whose loads are not
    reordered with each other (the reader has no fence to call from Python)."""
    return platform.system() == "Linux" and platform.machine() in _SYS_FUTEX


#: A message, or the number of messages a lap cost (an ``int``).
RingEvent = Union[Message, int]


class SharedRing:
    """The ring of one stream, read with the server's own rules: copy a run of frames, then check
    the writer did not announce that range meanwhile; a lapped reader jumps to the newest frame
    and counts its loss from the sequence numbers."""

    def __init__(self, fd: int, stream_id: int, header_bytes: int, ring_bytes: int, start: int, next_sequence: int):
        """Maps ``fd`` (and closes it) as RING_MAPPED describes; raises ``OSError`` or ``ValueError``."""
        try:
            if header_bytes < 128 or ring_bytes < 64 or ring_bytes & (ring_bytes - 1):
                raise ValueError(f"RING_MAPPED with header {header_bytes} and ring {ring_bytes} bytes")
            self.size = header_bytes + ring_bytes
            if os.fstat(fd).st_size < self.size:
                raise ValueError("the ring memfd is smaller than RING_MAPPED says")
            address = _libc.mmap(None, self.size, _PROT_READ, _MAP_SHARED, fd, 0)
            if address in (None, ctypes.c_void_p(-1).value):
                error = ctypes.get_errno()
                raise OSError(error, f"mmap of the ring: {os.strerror(error)}")
        finally:
            os.close(fd)
        self.address: int = address
        self.frames = address + header_bytes
        self.capacity = ring_bytes
        self.stream_id = stream_id
        self.cursor = start
        self.expected = next_sequence
        self.total_lost = 0
        head = ctypes.string_at(address, 32)
        layout, announced_header, announced_ring, announced_stream = struct.unpack_from("<IIQI", head, 8)
        if (
            head[:8] != _MAGIC
            or layout != _LAYOUT_VERSION
            or announced_header != header_bytes
            or announced_ring != ring_bytes
            or announced_stream != stream_id
        ):
            self.close()
            raise ValueError("the mapped ring's control block does not match RING_MAPPED")
        self._tail = ctypes.c_uint64.from_address(address + _TAIL)
        self._intent = ctypes.c_uint64.from_address(address + _TAIL_INTENT)
        self._latest = ctypes.c_uint64.from_address(address + _LATEST)
        self._notify = ctypes.c_uint32.from_address(address + _NOTIFY)
        self._end = ctypes.c_uint32.from_address(address + _END_REASON)

    def close(self) -> None:
        if self.address:
            _libc.munmap(self.address, self.size)
            self.address = 0

    @property
    def notify(self) -> int:
        return self._notify.value

    @property
    def end_reason(self) -> int:
        """0 while the stream lives, then its STREAM_ENDED reason."""
        return self._end.value

    @property
    def has_news(self) -> bool:
        return self._tail.value != self.cursor

    def wait(self, notify: int, timeout: float) -> None:
        """FUTEX_WAIT while the notify word is ``notify``, at most ``timeout`` seconds."""
        seconds = int(timeout)
        limit = _Timespec(seconds, int((timeout - seconds) * 1e9))
        _libc.syscall(
            _SYS_FUTEX[platform.machine()],
            ctypes.c_void_p(self.address + _NOTIFY),
            _FUTEX_WAIT,
            ctypes.c_uint32(notify),
            ctypes.byref(limit),
            None,
            0,
        )

    def _copy(self) -> bytes:
        """The next run of whole frames (empty when there is none), validated against lapping."""
        capacity = self.capacity
        for _ in range(_READ_ATTEMPTS):
            end = self._tail.value
            cursor = self.cursor
            if end == cursor:
                return b""
            if end - cursor > capacity or cursor > end:
                self.cursor = self._latest.value
                continue
            count = min(end - cursor, 256 << 10)
            offset = cursor % capacity
            first = min(count, capacity - offset)
            data = ctypes.string_at(self.frames + offset, first)
            if count > first:
                data += ctypes.string_at(self.frames, count - first)
            if self._intent.value - cursor > capacity:
                self.cursor = self._latest.value
                continue
            whole = 0
            while count - whole >= _HEADER:
                size = _HEADER + _FRAME_HEAD.unpack_from(data, whole)[0]
                if whole + size > count:
                    break
                whole += size
            self.cursor = cursor + whole
            return data[:whole]
        self.cursor = self._tail.value
        return b""

    def read(self) -> List[RingEvent]:
        """Every message the ring holds past this reader, with a count before each gap."""
        data = self._copy()
        events: List[RingEvent] = []
        offset = 0
        while offset < len(data):
            length = _FRAME_HEAD.unpack_from(data, offset)[0]
            sequence = _SEQUENCE.unpack_from(data, offset + 12)[0]
            if sequence > self.expected:
                lost = sequence - self.expected
                self.total_lost += lost
                events.append(lost)
            self.expected = sequence + 1
            events.append(Message(self.stream_id, sequence, data[offset + _MESSAGE_PREFIX : offset + _HEADER + length]))
            offset += _HEADER + length
        return events


class RingFollower(threading.Thread):
    """Reads a :class:`SharedRing` on its own thread and hands each batch to ``deliver`` (which
    should hop to the event loop, e.g. with ``call_soon_threadsafe``). Idle, it sleeps on the
    ring's futex (``spin`` = False) or spins on the ring's tail.

    After :meth:`finish` it drains the ring and calls ``deliver(None)`` once; after :meth:`stop`
    it just stops. The mapping is unmapped when the thread ends.
    """

    #: Longest futex sleep before looking at the stop flags again.
    PARK_SECONDS = 0.25

    def __init__(self, ring: SharedRing, deliver: Callable[[Optional[List[RingEvent]]], None], spin: bool) -> None:
        super().__init__(name=f"tern-ring-{ring.stream_id}", daemon=True)
        self.ring = ring
        self._deliver = deliver
        self._spin = spin
        self._finishing = False
        self._stopping = False
        #: True while the consumer holds too many undelivered events: the thread stops reading,
        #: and if the writer laps it meanwhile the loss is counted (the slow consumer of a ring).
        self.backlogged: Callable[[], bool] = lambda: False

    def finish(self) -> None:
        self._finishing = True

    def stop(self) -> None:
        self._stopping = True

    def run(self) -> None:
        ring = self.ring
        try:
            while not self._stopping:
                if self.backlogged():
                    time.sleep(0.001)
                    continue
                notify = ring.notify
                events = ring.read()
                if events:
                    self._deliver(events)
                    continue
                if self._finishing:
                    self._deliver(None)
                    return
                if not self._spin:
                    ring.wait(notify, self.PARK_SECONDS)
        finally:
            ring.close()
