"""Stored calls for the analytics tests: every figure the page shows has an input here."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from domain.call import Action, CallInitiate, CallState, CallStatus, Handoff, Message, Persona
from domain.outcome import CallOutcome
from domain.usage import CallCost, CallUsage

DAY1 = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)
DAY2 = DAY1 + timedelta(days=1)


def call(
    call_id: str,
    at: datetime,
    outcome: CallOutcome | None,
    *,
    cost: float | None = None,
    connected: float = 0.0,
    complete: bool = False,
    gaps: tuple[float, ...] = (),
    handoff: bool = False,
) -> CallState:
    """A stored phone call; `gaps`: seconds from each caller message to the bot's reply."""
    messages: list[Message] = []
    moment = at
    for turn, gap in enumerate(gaps, 1):
        messages.append(
            Message(created_at=moment, persona=Persona.HUMAN, content="Hello", turn_id=turn)
        )
        moment += timedelta(seconds=gap)
        messages.append(
            Message(created_at=moment, persona=Persona.ASSISTANT, content="Hi", turn_id=turn)
        )
        # A second sentence of the same turn: only the first one counts.
        messages.append(
            Message(
                created_at=moment + timedelta(seconds=3),
                persona=Persona.ASSISTANT,
                content="How can I help?",
                turn_id=turn,
            )
        )
        moment += timedelta(seconds=10)
    usage = CallUsage(connected_seconds=connected)
    if cost is not None:
        usage.cost = CallCost(as_of=date(2025, 6, 1), currency="EUR", lines=[], total=cost)
    initiate = CallInitiate(
        phone_number="+33612340001",
        bot_company="Contoso",
        bot_name="Amélie",
        agent_phone_number="+33612349999",
    )
    claim: dict[str, str | None] = {"policyholder_name": "Jeanne Dupont"}
    if complete:  # every field of the default claim schema given
        claim = {field.name: f"given {field.name}" for field in initiate.claim_schema()}
    return CallState(
        call_id=call_id,
        created_at=at,
        initiate=initiate,
        channel="phone",
        status=CallStatus.ENDED if outcome else CallStatus.IN_PROGRESS,
        claim=claim,
        messages=messages,
        usage=usage,
        outcome=outcome,
        handoff=Handoff(requested_at=at, target="agent", status="requested") if handoff else None,
    ).model_copy(update={"messages": [*messages, hangup(at)] if outcome else messages})


def hangup(at: datetime) -> Message:
    """An event message: not talk, so it is no reply."""
    return Message(created_at=at, persona=Persona.ASSISTANT, action=Action.HANGUP)


def sample() -> list[CallState]:
    """Six calls over two days: 4 answered (2 with a complete claim), 1 no answer, 1 running."""
    return [
        call(
            "c1",
            DAY1,
            CallOutcome.COMPLETED,
            cost=0.30,
            connected=120,
            complete=True,
            gaps=(0.8, 1.2),
        ),
        call(
            "c2",
            DAY1 + timedelta(hours=1),
            CallOutcome.TRANSFERRED,
            cost=0.20,
            connected=60,
            complete=True,
            gaps=(2.0,),
            handoff=True,
        ),
        call("c3", DAY1 + timedelta(hours=2), CallOutcome.NO_ANSWER, cost=0.01),
        call("c4", DAY2, CallOutcome.CALLER_HUNG_UP, cost=0.09, connected=30, gaps=(0.4,)),
        call(
            "c5",
            DAY2 + timedelta(hours=1),
            CallOutcome.TRANSFER_FAILED,
            connected=90,
            handoff=True,
            gaps=(5.0,),
        ),
        call("c6", DAY2 + timedelta(hours=2), None, connected=0),
    ]
