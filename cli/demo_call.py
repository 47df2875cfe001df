"""The demo call: the bot phones a scripted caller whose voice is synthesised by Piper.

The caller is a phone of the ACS emulator. Each line is spoken into the call's media stream in
real time once the bot has answered and gone quiet; meanwhile the live transcript (who said
what, and the claim fields as they fill) is printed from the call's state.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from acs_emulator.client import EmulatorClient
from providers.speech.audio import resample
from providers.speech.base import TextToSpeech

# A car accident reported over several turns. The caller answers what the bot asks (by its
# words), else the next thing it has not said yet, and says goodbye when asked for anything else.
OPENING = "Hello, I had a car accident this morning and I would like to report it."
ANSWERS: tuple[tuple[tuple[str, ...], str], ...] = (
    (
        ("what happened", "tell me"),
        "A truck hit the back of my car while I was stopped at a red light.",
    ),
    (("name",), "My name is Jane Miller."),
    (("policy",), "My policy number is B 0 1 3 7 1 9 4 6."),
    (("when", "time", "what day"), "It happened this morning at about eight thirty."),
    (("where",), "In Lyon, near the train station."),
    (("hurt", "injur"), "Nobody was hurt."),
    (("witness", "see"), "Yes, a woman on the sidewalk saw everything."),
    (("email", "mail"), "My email is jane dot miller at example dot com."),
    (("phone", "reach you"), "My phone number is 06 55 50 12 34."),
    (("involved", "other driver"), "Just me and the truck driver."),
)
# The demo's claim: what a car accident needs (the policyholder's name, email and phone are
# always added). `POST /call` takes any claim schema; the default one has nine fields.
DEMO_CLAIM = (
    ("incident_description", "text", "What happened"),
    ("incident_datetime", "datetime", "Date and time of the incident"),
    ("incident_location", "text", "Where it happened"),
    ("injuries", "text", "Injuries, if any"),
    ("witnesses", "text", "Witnesses, if any"),
    ("policy_number", "text", "Insurance policy id"),
)
CLOSING_CUES = ("anything else", "add anything", "something else")
CLOSING = "No, that is everything, thank you, goodbye."


def next_line(bot_said: str, used: set[int]) -> str:
    """What the caller says after the bot's message `bot_said`."""
    said = bot_said.lower()
    if len(used) == len(ANSWERS) or any(cue in said for cue in CLOSING_CUES):
        return CLOSING
    asked = [i for i, (cues, _) in enumerate(ANSWERS) if any(cue in said for cue in cues)]
    for index in sorted(asked, key=lambda i: i in used):  # a new answer first, else again
        used.add(index)
        return ANSWERS[index][1]
    index = min(set(range(len(ANSWERS))) - used)
    used.add(index)
    return ANSWERS[index][1]


QUIET_S = 2.5  # the bot has finished speaking when no audio arrived for this long
ANSWER_TIMEOUT_S = 60.0  # a slow local model on a busy machine still answers within this


@dataclass
class DemoResult:
    call_id: str
    call: dict[str, Any]
    temporal_ui_url: str
    voice_to_voice_ms: list[float] = field(default_factory=list)
    timings: list[str] = field(default_factory=list)  # the breakdown per turn, when traced

    def latency_line(self) -> str:
        values = sorted(self.voice_to_voice_ms)
        if not values:
            return "voice-to-voice: no bot answer was measured"
        p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
        return (
            f"voice-to-voice (end of caller speech → first bot audio, {len(values)} turns): "
            f"p50 {statistics.median(values):.0f} ms, p95 {p95:.0f} ms"
        )


class Transcript:
    """Prints messages and claim fields as the call's state changes."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self._say = say
        self._printed = 0
        self._claim: dict[str, Any] = {}

    def update(self, call: dict[str, Any]) -> None:
        messages: list[dict[str, Any]] = call.get("messages", [])
        for message in messages[self._printed :]:
            self._message(message)
        self._printed = len(messages)
        for name, value in (call.get("claim") or {}).items():
            if value not in (None, "") and self._claim.get(name) != value:
                self._say(f"      claim  {name} = {value}")
        self._claim = dict(call.get("claim") or {})

    def _message(self, message: dict[str, Any]) -> None:
        who = "bot   " if message["persona"] == "assistant" else "caller"
        if message.get("action") == "hangup":
            self._say(f"  {who} hung up")
            return
        for tool in message.get("tool_calls", []):
            self._say(f"      tool   {tool['function_name']}({tool['function_arguments']})")
        if message.get("content"):
            heard = " (as heard)" if who == "caller" else ""
            self._say(f"  {who}{heard}: {message['content']}")


class DemoCall:
    """Drives one demo call through the API and the emulator's phone."""

    def __init__(
        self,
        api: httpx.AsyncClient,
        phones: EmulatorClient,
        tts: TextToSpeech,
        customer: str,
        say: Callable[[str], None],
    ) -> None:
        self.api = api
        self.phones = phones
        self.tts = tts
        self.customer = customer
        self.say = say
        self.transcript = Transcript(say)

    async def run(self, max_turns: int = 16) -> DemoResult:
        await self.phones.add_phone(self.customer, answer_delay_ms=800)
        response = await self.api.post(
            "/call",
            json={
                "phone_number": self.customer,
                "claim": [
                    {"name": name, "type": kind, "description": description}
                    for name, kind, description in DEMO_CLAIM
                ],
                "lang": {
                    "default_short_code": "en-US",
                    "availables": [{"short_code": "en-US", "voice": "en_US-joe-medium"}],
                },
            },
        )
        if response.status_code != 201:
            raise RuntimeError(f"POST /call answered {response.status_code}: {response.text}")
        created = response.json()
        result = DemoResult(created["call_id"], {}, created["temporal_ui_url"])
        self.say(f"  POST /call → {result.call_id} (the bot dials {self.customer})")
        watcher = asyncio.create_task(self._watch(result))
        try:
            connection_id = await self._answered(result.call_id)
            rate = await self._media_rate(connection_id)
            await self._wait_for_bot(connection_id, result.call_id, answers_before=0)
            used: set[int] = set()
            line = OPENING
            for _ in range(max_turns):
                answers = self._answers(result.call)
                self.say(f"  caller says: {line}")
                ended_at = await self._speak(connection_id, line, rate)
                latency = await self._first_audio_after(connection_id, ended_at)
                if latency is not None:
                    result.voice_to_voice_ms.append(latency)
                if line == CLOSING:
                    break
                if not await self._wait_for_bot(connection_id, result.call_id, answers):
                    break  # the bot hung up
                line = next_line(self._last_answer(result.call), used)
            self.say(f"  {result.latency_line()}")
            await self._end(connection_id, result)
            return result
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)

    # --- the phone --------------------------------------------------------------------------

    async def _answered(self, call_id: str) -> str:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            call = await self._state(call_id)
            if call.get("status") == "in_progress" and call.get("connection_id"):
                self.say("  the caller's phone rang and was answered")
                return str(call["connection_id"])
            if call.get("status") == "ended":
                raise RuntimeError("the call ended before it was answered")
            await asyncio.sleep(0.2)
        raise RuntimeError("the call was not answered within 60 s")

    async def _media_rate(self, connection_id: str) -> int:
        record = await self.phones.wait_for_call(
            connection_id, lambda c: c.media.connected and c.media.sample_rate is not None
        )
        return record.media.sample_rate or 16_000

    async def _speak(self, connection_id: str, text: str, rate: int) -> float:
        """Queue the caller's voice; returns the monotonic time its last sample plays."""
        voice = b"".join([chunk async for chunk in self.tts.synthesize(text, rate=0.95)])
        pcm = resample(voice, self.tts.sample_rate, rate)
        await self.phones.play_audio(connection_id, pcm, rate)
        return time.monotonic() + len(pcm) / 2 / rate

    async def _frames(self, connection_id: str) -> int:
        return (await self.phones.call(connection_id)).media.audio_frames_received

    async def _first_audio_after(self, connection_id: str, ended_at: float) -> float | None:
        """Milliseconds from the end of the caller's speech to the bot's next audio frame."""
        await asyncio.sleep(max(0.0, ended_at - time.monotonic()))
        before = await self._frames(connection_id)
        deadline = ended_at + ANSWER_TIMEOUT_S
        while time.monotonic() < deadline:
            if await self._frames(connection_id) > before:
                return (time.monotonic() - ended_at) * 1000
            await asyncio.sleep(0.02)
        return None

    async def _wait_for_bot(self, connection_id: str, call_id: str, answers_before: int) -> bool:
        """Wait until the bot answered and went quiet; False when the call has ended."""
        deadline = time.monotonic() + ANSWER_TIMEOUT_S
        frames, quiet_since = -1, time.monotonic()
        answered_at: float | None = None
        while time.monotonic() < deadline:
            call = await self._state(call_id)
            if call.get("status") == "ended":
                return False
            now_frames = await self._frames(connection_id)
            if now_frames != frames:
                frames, quiet_since = now_frames, time.monotonic()
            if self._answers(call) > answers_before:
                if answered_at is None:  # its audio may still be on its way: wait from here
                    answered_at = quiet_since = time.monotonic()
                if time.monotonic() - quiet_since >= QUIET_S:
                    return True
            await asyncio.sleep(0.1)
        self.say("  (the bot did not answer in time; the caller goes on)")
        return True

    async def _end(self, connection_id: str, result: DemoResult) -> None:
        """Let the bot hang up after the goodbye; else the caller does. Then the synthesis."""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if (await self._state(result.call_id)).get("status") == "ended":
                break
            await asyncio.sleep(0.2)
        else:
            self.say("  the caller hangs up")
            await self.phones.hang_up(connection_id)
        self.say("  call ended; waiting for the synthesis and next action (post-call)")
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            view = await self._view(result.call_id)
            result.call = view["call"]
            if result.call.get("synthesis") and result.call.get("next"):
                return
            if not view["live"]:
                self.say("  (the workflow closed without a synthesis; see the worker log)")
                return
            await asyncio.sleep(0.5)
        self.say("  (no synthesis within 240 s)")

    # --- the call's state -------------------------------------------------------------------

    @staticmethod
    def _last_answer(call: dict[str, Any]) -> str:
        answers = [m["content"] for m in call.get("messages", []) if m["persona"] == "assistant"]
        return next((a for a in reversed(answers) if a), "")

    @staticmethod
    def _answers(call: dict[str, Any]) -> int:
        return sum(
            1 for m in call.get("messages", []) if m["persona"] == "assistant" and m["content"]
        )

    async def _view(self, call_id: str) -> dict[str, Any]:
        response = await self.api.get(f"/call/{call_id}")
        response.raise_for_status()
        view: dict[str, Any] = response.json()
        return view

    async def _state(self, call_id: str) -> dict[str, Any]:
        call: dict[str, Any] = (await self._view(call_id))["call"]
        return call

    async def _watch(self, result: DemoResult) -> None:
        while True:
            try:
                result.call = await self._state(result.call_id)
                self.transcript.update(result.call)
            except httpx.HTTPError:
                pass  # a poll can fail while the API restarts a connection; the next one wins
            await asyncio.sleep(0.25)
