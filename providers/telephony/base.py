"""Call control: what the workflow asks of the phone line.

`ChatTelephony` (no phone line) implements only `hang_up` and `transfer`; `AcsTelephony`
implements everything through Azure Communication Services Call Automation.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from domain.contracts import (
    AnswerCallInput,
    CallConnection,
    ConnectionState,
    MediaInput,
    PlaceCallInput,
    PlayInput,
    RecognizeInput,
    RecordingInput,
    TransferResult,
)
from domain.transfer import AddAgentInput, AddAgentResult, BriefAgentInput, FinishTransferInput


class Telephony(Protocol):
    async def hang_up(self, call_id: str, connection_id: str | None) -> None: ...

    async def transfer(
        self, call_id: str, connection_id: str | None, target: str
    ) -> TransferResult: ...


class PhoneLine(Telephony, Protocol):
    """A real phone line: placing, answering and driving calls."""

    async def place_call(
        self, input: PlaceCallInput, *, first_sent: datetime | None = None
    ) -> CallConnection:
        """`first_sent`: the first attempt's time, so retries are recognised as repeats."""
        ...

    async def answer_call(
        self, input: AnswerCallInput, *, first_sent: datetime | None = None
    ) -> CallConnection: ...

    async def play(self, input: PlayInput) -> None: ...

    async def recognize(self, input: RecognizeInput) -> None: ...

    async def start_media(self, input: MediaInput) -> None: ...

    async def stop_media(self, input: MediaInput) -> None: ...

    async def start_recording(self, input: RecordingInput) -> None: ...

    async def connection_state(self, call_id: str, connection_id: str) -> ConnectionState:
        """What the service says of the connection now (to reconcile a lost callback)."""
        ...

    # --- warm transfer (`domain/transfer.py`) ---------------------------------------------------

    async def add_agent(
        self, input: AddAgentInput, *, first_sent: datetime | None = None
    ) -> AddAgentResult:
        """Hold the caller and ring the agent into the call (AddParticipant* events follow)."""
        ...

    async def brief_agent(self, input: BriefAgentInput) -> None:
        """Play the briefing to the agent only, then recognize their key."""
        ...

    async def finish_transfer(self, input: FinishTransferInput) -> None:
        """Connect caller and agent (the bot leaves), or release the agent and unhold."""
        ...
