"""The softphone page in headless Chromium, through the whole stack: API, Temporal, worker,
media gateway (Silero, Whisper, Piper), ACS emulator and the scripted LLM.

Chromium's microphone is a WAV of the caller's speech synthesised by Piper at test time; the
bot hears it through the page's AudioWorklet capture, and what the page receives back from the
bot is transcribed again with Whisper. Nothing is silence standing in for speech.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import pytest
from playwright.async_api import Page

from media_gateway.engines import Engines
from providers.speech.audio import resample
from scripted_llm.script import ScriptedReply
from tests.support.engines import real_engines
from tests.support.fake_microphone import chromium_with_microphone, write_speech_wav
from tests.telephony.test_phone_calls import CUSTOMER, ONE_LANGUAGE, Phone
from tests.telephony.test_phone_calls import spoken as spoken  # noqa: F401 - the phone fixture

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# The bot greets first (about 4 s of speech); the caller, like a person, waits for it.
CALLER_LEAD_S = 6.0
T = TypeVar("T")


@pytest.fixture(scope="module")
def engines() -> Engines:
    return real_engines()


@pytest.fixture(scope="module")
async def caller_wav(engines: Engines, tmp_path_factory: pytest.TempPathFactory) -> Path:
    voice = b"".join([c async for c in engines.tts.synthesize("My car was stolen yesterday.")])
    path = tmp_path_factory.mktemp("softphone") / "caller.wav"
    return write_speech_wav(path, voice, engines.tts.sample_rate, lead_s=CALLER_LEAD_S)


@pytest.fixture
async def page(caller_wav: Path) -> AsyncIterator[Page]:
    async with chromium_with_microphone(caller_wav) as browser:
        tab = await browser.new_page(viewport={"width": 420, "height": 760})
        failures: list[str] = []
        tab.on("pageerror", lambda error: failures.append(str(error)))
        yield tab
        assert failures == [], failures  # no uncaught error in the page's scripts
        assert await tab.evaluate("window.softphone.errors") == []


async def eventually(
    probe: Callable[[], Awaitable[T | None]], what: str, within_s: float = 20.0
) -> T:
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        found = await probe()
        if found is not None:
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {within_s}s waiting for {what}")
        await asyncio.sleep(0.1)


async def open_softphone(page: Page, phone: Phone, number: str) -> None:
    await page.goto(f"{phone.acs.endpoint}/softphone?number={quote(number)}")
    await page.wait_for_function(f"window.softphone && window.softphone.number === '{number}'")


async def stats(page: Page) -> dict[str, Any]:
    found: dict[str, Any] | None = await page.evaluate("window.softphone.stats()")
    assert found is not None, "the page has no call audio yet"
    return found


async def heard_by_page(page: Page, engines: Engines) -> str:
    """What the page received from the bot, once it stopped coming, transcribed by Whisper."""
    last, still = -1.0, 0
    for _ in range(200):  # the bot speaks in real time; sentences may have short gaps
        received = float((await stats(page))["receivedBytes"])
        still = still + 1 if received == last else 0
        if still == 3:
            break
        last = received
        await asyncio.sleep(0.5)
    recording = await page.evaluate("window.softphone.recording()")
    pcm = resample(base64.b64decode(recording["pcm"]), recording["rate"], engines.stt.sample_rate)
    text = (await engines.stt.transcribe(pcm, language="en-US")).text
    return text.lower().replace("?", "").replace(",", "")


def said(state: dict[str, Any], persona: str) -> list[str]:
    return [m["content"] for m in state["messages"] if m["persona"] == persona and m["content"]]


async def test_the_page_answers_the_bots_call_talks_presses_keys_and_hangs_up(
    spoken: Phone, engines: Engines, page: Page
) -> None:
    await open_softphone(page, spoken, CUSTOMER)
    call_id = await spoken.call(lang=ONE_LANGUAGE)
    spoken.llm.state.add(
        ScriptedReply(text="I am sorry to hear that. Where did it happen?"),
        ScriptedReply(text="Thank you, noted."),
        user=call_id,
    )
    await page.wait_for_function("window.softphone.state === 'incoming'")
    assert "calling" in (await page.text_content("#status") or "")
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=ARTIFACTS / "softphone-ringing.png", animations="disabled")
    await page.click("#answer")
    connection_id = await spoken.connection(call_id)

    # The bot hears the caller: a user turn Whisper transcribed from Chromium's microphone.
    async def caller_turn() -> list[str] | None:
        return said(await spoken.state(call_id), "human") or None

    heard_by_bot = await eventually(caller_turn, "the caller's turn", within_s=30)
    # Whisper base hears Piper's "stolen" as "still in", with or without the browser between.
    assert "car" in heard_by_bot[0].lower() and "yesterday" in heard_by_bot[0].lower(), heard_by_bot

    # Its answer is spoken back and reaches the page, which plays it.
    async def answer() -> list[str] | None:
        answers = said(await spoken.state(call_id), "assistant")
        return answers if any("happen" in a for a in answers) else None

    await eventually(answer, "the bot's answer")
    text = await heard_by_page(page, engines)
    assert "contoso" in text or "help" in text, text  # the greeting
    assert "where did it happen" in text, text
    audio = await stats(page)
    assert audio["rate"] == 16_000 and audio["loudFrames"] > 100, audio
    assert audio["played"] > 3.0, audio  # through the player worklet, not only received
    assert audio["sentFrames"] > 200, audio  # the microphone, 20 ms frames

    # The keypad: DTMF on the media stream, one "(keypad) 42" turn for the workflow.
    await page.click(".key[data-tone='4']")
    await page.click(".key[data-tone='2']")

    async def keypad_turn() -> list[str] | None:
        turns = said(await spoken.state(call_id), "human")
        return turns if "(keypad) 42" in turns else None

    await eventually(keypad_turn, "the keypad turn")
    record = await spoken.phones.call(connection_id)
    assert record.dtmf_pressed == ["4", "2"] and record.media.dtmf_sent == ["4", "2"]
    await page.screenshot(path=ARTIFACTS / "softphone-in-call.png", animations="disabled")

    await page.click("#hangup")
    record = await spoken.phones.wait_for_state(connection_id, "disconnected")
    assert record.hang_up is not None and record.hang_up.by == "phone"
    final = await spoken.wait_status(call_id, "ended")
    assert "hangup" in [m["action"] for m in final["messages"]]
    await page.wait_for_function("window.softphone.state === 'idle'")
    assert "phone" in (await page.text_content("#detail") or "")


async def test_the_page_dials_the_bot_and_picks_the_language_on_the_keypad(
    spoken: Phone, engines: Engines, page: Page
) -> None:
    await spoken.phones.configure(time_scale=1.0)  # the menu waits for the caller as in ACS
    number = "+33611112222"  # not an emulator phone yet: the page adds it
    await open_softphone(page, spoken, number)
    assert number in [p.number for p in await spoken.phones.phones()]
    await page.click("#dial")
    record = await spoken.phones.wait_for_call(
        number, lambda c: bool(c.recognizes) and c.recognizes[-1].status == "listening", timeout=15
    )
    assert record.direction == "inbound" and record.from_number == number
    await page.wait_for_function("window.softphone.state === 'connected'")
    await page.click("#mute")  # the caller says nothing here
    muted = (await stats(page))["sentFrames"]
    await page.click(".key[data-tone='1']")  # English
    await spoken.phones.wait_for_call(record.connection_id, lambda c: c.media.connected)
    response = await spoken.api.get("/call", params={"phone_number": number})
    (call,) = response.json()["calls"]
    state = await spoken.wait_status(call["call_id"], "in_progress")
    assert state["lang_short_code"] == "en-US"

    text = await heard_by_page(page, engines)
    assert "contoso" in text or "help" in text, text  # the English greeting
    assert (await stats(page))["sentFrames"] == muted
    await page.click("#hangup")
    await spoken.phones.wait_for_state(record.connection_id, "disconnected")
    await spoken.wait_status(call["call_id"], "ended")
    await page.wait_for_function("window.softphone.state === 'idle'")
