"""When a call's media gateway goes away, the workflow asks ACS to stream again, backing off;
when no gateway takes the stream, the caller is told through ACS and the call ends (issue 15).

The whole phone stack: API, Temporal dev server, worker, the ACS emulator, a media gateway on a
real port that goes away (nothing listens there: every StartMediaStreaming fails to connect,
as ACS reports `MediaStreamingFailed`) and may come back.
"""

from __future__ import annotations

import asyncio

from acs_emulator.models import EventRecord
from domain.prompts import PHRASES
from media_gateway.app import SESSIONS
from tests.telephony.test_phone_calls import ONE_LANGUAGE, Phone, serve_gateway
from tests.telephony.test_phone_calls import phone as phone  # noqa: F401 - the stack fixture
from workflows.call_phone import MEDIA_RESTART_DELAYS, MEDIA_STABLE


def gaps(events: list[EventRecord]) -> list[float]:
    return [(b.time - a.time).total_seconds() for a, b in zip(events, events[1:], strict=False)]


async def gateway_goes_away(phone: Phone) -> str:
    """A live call whose gateway then stops: its socket closes, nothing listens any more."""
    call_id = await phone.call(lang=ONE_LANGUAGE)
    connection_id = await phone.connection(call_id)
    await phone.phones.wait_for_call(connection_id, lambda c: c.media.connected)
    assert phone.gateway_runner is not None
    await phone.gateway_runner.cleanup()
    await phone.phones.wait_for_event(connection_id, "MediaStreamingStopped")
    return call_id


async def test_media_restarts_back_off_until_a_gateway_takes_the_stream(phone: Phone) -> None:
    """Two outages; the second after the stream was back for `MEDIA_STABLE`: its restarts
    start over from the first delay (without that, it would soon be given up)."""
    call_id = await gateway_goes_away(phone)
    connection_id = (await phone.state(call_id))["connection_id"]
    delays = [d.total_seconds() for d in MEDIA_RESTART_DELAYS]
    for outage in (1, 2):
        # Three restarts fail (at once, then after 0.5 s and 1 s); a gateway is back before
        # the fourth (2 s later).
        await phone.phones.wait_for_event(
            connection_id, "MediaStreamingFailed", count=3 * outage, timeout=10
        )
        runner = await serve_gateway(phone.client, phone.gateway_port)
        try:
            await phone.phones.wait_for_event(
                connection_id, "MediaStreamingStarted", count=1 + outage, timeout=10
            )
            for _ in range(100):  # the gateway checks the token (a workflow query) first
                if runner.app[SESSIONS].get(call_id):
                    break
                await asyncio.sleep(0.05)
            (session,) = runner.app[SESSIONS][call_id]
            assert not session.closed
            if outage == 1:
                await asyncio.sleep(MEDIA_STABLE.total_seconds() + 0.5)
        finally:
            await runner.cleanup()  # the second outage; at the end, the test's end
        if outage == 1:
            await phone.phones.wait_for_event(connection_id, "MediaStreamingStopped", count=2)
    record = await phone.phones.call(connection_id)
    state = await phone.state(call_id)
    stops = record.events_of("MediaStreamingStopped")
    failed = record.events_of("MediaStreamingFailed")
    assert len(failed) == 6  # no restart wasted while a stream was up
    for outage in (0, 1):
        intervals = gaps([stops[outage], *failed[3 * outage : 3 * outage + 3]])
        assert intervals[0] < 1.0, intervals  # the first restart at once
        # Each later one after its delay (the timer and the callback's delivery add a little).
        pairs = list(zip(intervals[1:], delays[1:3], strict=True))
        assert all(g >= d - 0.05 for g, d in pairs), intervals
        assert all(g < d + 1.0 for g, d in pairs), intervals  # not the later, longer delays
    assert state["status"] == "in_progress" and not record.plays  # nothing to tell the caller


async def test_the_call_ends_with_a_notice_when_no_gateway_takes_the_stream(
    phone: Phone,
) -> None:
    call_id = await gateway_goes_away(phone)
    connection_id = (await phone.state(call_id))["connection_id"]
    total = sum(d.total_seconds() for d in MEDIA_RESTART_DELAYS)
    record = await phone.phones.wait_for_state(connection_id, "disconnected", timeout=total + 15)
    state = await phone.wait_status(call_id, "ended")

    assert len(record.events_of("MediaStreamingFailed")) == len(MEDIA_RESTART_DELAYS)
    notice = PHRASES["en"]["media_lost"]
    (play,) = record.plays  # told through ACS, not left in silence
    assert play.operation_context == "goodbye"
    assert [s.text for s in play.sources] == [notice]
    started = record.events_of("MediaStreamingStopped")[0].time
    assert play.started_at is not None
    assert (play.started_at - started).total_seconds() >= total - 0.5  # after every restart
    # The call's record says why it ended.
    last = state["messages"][-2:]
    assert [m["persona"] for m in last] == ["assistant", "human"]
    assert last[0]["content"] == notice and last[1]["action"] == "hangup"
