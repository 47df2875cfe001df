"""When inbound audio was spoken, from how much of it came, not only from when it arrived.

ACS streams the caller in real time over TCP: audio is delayed, not dropped, so after a
stall (of the gateway's event loop, of the network) the frames held up arrive in a burst,
all with the same arrival time although they span the stall. The echo guard compares
inbound audio with what was played at the same moment, and the barge-in timer runs from the
onset: both need the time a frame was spoken.

The clock is the audio's position plus an anchor: the arrival delay (arrival time minus
position) of frames that came promptly. A frame later than that is taken as part of a
backlog and placed by its position. A backlog drains faster than real time; when late
frames keep arriving at the stream's pace instead, the stream had a gap (a frame lost, a
longer network path, the caller's clock drifting from ours) and the anchor moves to them:
one frame is misplaced, not the rest of the call.
"""

from __future__ import annotations

# Later than the anchor by more than this: late (a frame; network jitter mostly stays within it).
LATE_S = 0.02
# A late frame arriving this fraction of its duration after the one before is not draining
# a backlog (a gateway catching up reads frames far faster; a busy one at ~1.4x real time).
PACE = 0.75


class MediaClock:
    def __init__(self) -> None:
        self._seconds = 0.0  # audio received so far
        self._anchor: float | None = None  # arrival minus position, of prompt frames
        self._last_arrival = 0.0
        self._was_late = False

    def advance(self, seconds: float, received_at: float) -> float:
        """`seconds` more audio, received at monotonic `received_at`: when its end was spoken
        (monotonic, never after `received_at`)."""
        self._seconds += seconds
        offset = received_at - self._seconds
        late = self._anchor is not None and offset > self._anchor + LATE_S
        at_pace = received_at - self._last_arrival >= PACE * seconds
        if self._anchor is None or offset < self._anchor or (late and self._was_late and at_pace):
            self._anchor = offset
            late = False
        self._last_arrival, self._was_late = received_at, late
        return self._anchor + self._seconds
