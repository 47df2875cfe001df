"""Barge-in bookkeeping: one `Overlap` per stretch of caller speech over the bot's audio.

Speech longer than the cutoff stops the audio at once (phones buffer, so waiting for STT
would let the bot talk over the caller); whether it was a real interruption is settled by
its length (longer than `backchannel_max_s`) or, for short speech, by its transcript: a
backchannel or noise resumes the rest of the answer, so the bot never goes silent.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from media_gateway.speaking import Interruption


@dataclass
class Overlap:
    onset_at: float
    stopped: Interruption | None = None  # audio stopped, decision pending or taken
    confirmed: bool = False  # a real interruption: `barge_in` signalled
    signal: asyncio.Task[None] | None = None  # the `barge_in` signal, awaited before the turn
    stop_sent_at: float | None = None
