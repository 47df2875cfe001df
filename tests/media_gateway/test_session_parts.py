"""The session's parts on their own: the keypad gathers keys into one turn, the silence watch
tells the workflow about a silent caller, a turn counts as caller speech in the gateway's hands
until the workflow takes it."""

from __future__ import annotations

import asyncio

from domain.flags import FeatureFlags
from media_gateway.call_context import CallContext, SessionConfig
from media_gateway.delivery import TurnSender
from media_gateway.keypad import Keypad
from media_gateway.silence import SilenceWatch
from media_gateway.telemetry import default_telemetry
from tests.media_gateway.fakes import RecordingControl


def call_of(control: RecordingControl, **flags: object) -> CallContext:
    call = CallContext(
        "parts", control, SessionConfig(), default_telemetry().for_call("parts"), _clock
    )
    call.flags = FeatureFlags().model_copy(update=flags)
    return call


def _clock() -> float:
    return asyncio.get_running_loop().time()


async def test_keys_pressed_close_together_are_one_turn() -> None:
    sent: list[str] = []

    async def send_turn(text: str, ended_at: float) -> None:
        sent.append(text)

    keypad = Keypad(0.1, send_turn, _clock)
    for key in "0612":
        keypad.press(key)
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.2)
    keypad.press("#")
    await asyncio.sleep(0.2)
    assert sent == ["(keypad) 0612", "(keypad) #"]


async def test_a_silent_caller_is_signalled_and_activity_resets_the_watch() -> None:
    control = RecordingControl()
    watch = SilenceWatch(call_of(control, phone_silence_timeout_sec=0.4))
    watch.start()
    try:
        for _ in range(6):  # 0.6 s with activity every 100 ms: never silent
            await asyncio.sleep(0.1)
            watch.activity()
        assert control.silences == []
        await asyncio.sleep(0.8)
        assert len(control.silences) == 1
    finally:
        assert watch.task is not None
        watch.task.cancel()


async def test_a_turn_is_delivering_until_the_workflow_takes_it() -> None:
    class SlowControl(RecordingControl):
        async def user_turn(self, turn, accepted=None):  # type: ignore[no-untyped-def]
            await asyncio.sleep(0.3)
            await super().user_turn(turn, accepted)

    control = SlowControl()
    call = call_of(control)
    changes: list[int] = []
    refreshed: list[bool] = []

    async def after_turn() -> None:
        refreshed.append(True)

    sender = TurnSender(
        call,
        changed=lambda: changes.append(sender.delivering),
        given_up=lambda: None,
        after_turn=after_turn,
    )
    sender.next_turn_id = 4
    sending = asyncio.create_task(sender.send("My car broke down.", _clock()))
    await asyncio.sleep(0.1)
    assert sender.delivering == 1
    await sending
    assert sender.delivering == 0 and changes == [0] and refreshed == [True]
    assert [t.turn_id for _, t in control.turns] == [4] and sender.next_turn_id == 5
    assert sender.holds == 0  # taken within HOLD_AFTER_SEC: no hold phrase
