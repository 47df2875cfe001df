"""The Azure speech providers offline: SSML, chunking, event mapping and connection failures.

The Speech SDK speaks a proprietary protocol and cannot be served locally, so its success
path is tested live only (tests/live). What it does without a service is real, though: it
fails to connect, and that must surface as a clear ``SpeechError`` within seconds.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Iterator

import pytest

from providers.speech import SpeechStream, SpeechToText, StreamingSpeechToText, TextToSpeech
from providers.speech.azure_stt import (
    AzureStt,
    RecognitionEvent,
    RecognitionState,
    SpeechAccount,
    SpeechError,
    confidence_from_json,
    load_sdk,
    sdk_errors,
)
from providers.speech.azure_tts import AzureTts, SynthesisEvent, SynthesisState
from providers.speech.ssml import (
    MAX_CHARS,
    TELEPHONE_EFFECT,
    build_ssml,
    chunk_text,
    clean_text,
    rate_percent,
    voice_locale,
)
from tests.speech.azure_tts_server import AzureTtsServer

NS = {"s": "http://www.w3.org/2001/10/synthesis", "mstts": "https://www.w3.org/2001/mstts"}
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
AVA = "en-US-AvaMultilingualNeural"
# The discard port: nothing listens there, so the SDK's connection is refused.
UNREACHABLE = "ws://127.0.0.1:9"


def _sdk_problem() -> str | None:
    try:
        load_sdk()
    except SpeechError as exc:
        return str(exc)
    return None


SDK_PROBLEM = _sdk_problem()
needs_sdk = pytest.mark.skipif(
    SDK_PROBLEM is not None,
    reason=f"the Speech SDK's native library does not load here: {SDK_PROBLEM}",
)


def parse(ssml: str) -> ET.Element:
    return ET.fromstring(ssml)


def spoken(ssml: str) -> str:
    prosody = parse(ssml).find(".//s:prosody", NS)
    assert prosody is not None
    return prosody.text or ""


# --- SSML ----------------------------------------------------------------------------------


def test_ssml_escapes_xml_special_characters() -> None:
    text = "Tom & Jerry <3 \"quoted\" and 'single' > all"
    ssml = build_ssml(text, voice=AVA, lang="en-US")
    for entity in ("&amp;", "&lt;", "&gt;", "&quot;", "&apos;"):
        assert entity in ssml
    assert spoken(ssml) == text  # well-formed, and the parser gets the text back intact


def test_ssml_escapes_attributes() -> None:
    ssml = build_ssml("Hi.", voice='x" onload="y', lang="en-US", style="a'b\"c")
    root = parse(ssml)
    voice = root.find("s:voice", NS)
    assert voice is not None and voice.get("name") == 'x" onload="y'
    style = root.find(".//mstts:express-as", NS)
    assert style is not None and style.get("style") == "a'b\"c"


def test_ssml_structure_and_telephone_effect() -> None:
    root = parse(build_ssml("Hello.", voice=AVA, lang="fr-FR"))
    assert root.tag == "{http://www.w3.org/2001/10/synthesis}speak"
    assert root.get("version") == "1.0" and root.get(XML_LANG) == "fr-FR"
    voice = root.find("s:voice", NS)
    assert voice is not None
    assert voice.get("name") == AVA and voice.get("effect") == TELEPHONE_EFFECT == "eq_telecomhp8k"
    lang = voice.find("s:lang", NS)  # a multilingual voice is told which language to speak
    assert lang is not None and lang.get(XML_LANG) == "fr-FR"
    assert lang.find("s:prosody", NS) is not None


def test_ssml_effect_can_be_left_out() -> None:
    voice = parse(build_ssml("Hi.", voice=AVA, lang="en-US", effect=None)).find("s:voice", NS)
    assert voice is not None and "effect" not in voice.attrib


@pytest.mark.parametrize("style", ["none", "None", "", "neutral"])
def test_ssml_without_style_has_no_express_as(style: str) -> None:
    ssml = build_ssml("Hi.", voice=AVA, lang="en-US", style=style)
    assert "express-as" not in ssml


@pytest.mark.parametrize("style", ["cheerful", "sad"])
def test_ssml_style_uses_express_as(style: str) -> None:
    express = parse(build_ssml("Hi.", voice=AVA, lang="en-US", style=style)).find(
        ".//mstts:express-as", NS
    )
    assert express is not None
    assert express.get("style") == style and express.get("styledegree") == "0.5"
    assert express.find("s:prosody", NS) is not None


@pytest.mark.parametrize(
    ("rate", "expected"),
    [(0.75, "-25%"), (1.0, "+0%"), (1.25, "+25%"), (0.8, "-20%"), (0.1, "-50%"), (5.0, "+100%")],
)
def test_rate_as_prosody_percentage(rate: float, expected: str) -> None:
    assert rate_percent(rate) == expected
    prosody = parse(build_ssml("Hi.", voice=AVA, lang="en-US", rate=rate)).find(".//s:prosody", NS)
    assert prosody is not None and prosody.get("rate") == expected


def test_custom_voice_endpoint_stays_out_of_the_ssml() -> None:
    endpoint_id = "9f50c644-2121-40e9-9ea7-544e48bfe3cb"
    ssml = build_ssml(
        "Hello.",
        voice="ContosoMultilingualNeural",
        lang="en-US",
        style="cheerful",
        custom_voice_endpoint_id=endpoint_id,
    )
    assert endpoint_id not in ssml  # it is a connection setting (SpeechConfig.endpoint_id)
    root = parse(ssml)
    voice = root.find("s:voice", NS)
    assert voice is not None and voice.get("name") == "ContosoMultilingualNeural"
    assert voice.get("effect") == TELEPHONE_EFFECT
    # A custom voice speaks the locale it was trained on: no <lang> switch.
    assert voice.find("s:lang", NS) is None
    assert root.find(".//mstts:express-as", NS) is not None


def test_monolingual_voice_gets_no_lang_switch() -> None:
    voice = parse(build_ssml("Bonjour.", voice="fr-FR-DeniseNeural", lang="fr-FR")).find(
        "s:voice", NS
    )
    assert voice is not None and voice.find("s:lang", NS) is None


def test_clean_text_drops_what_voices_read_badly() -> None:
    text = (
        "**Important:** see https://www.contoso.com/claims/123?id=4. Or "
        "[the form](https://forms.contoso.com/x) 😀👍🏽 now\x00!\n- first\n- second policy_id"
    )
    cleaned = clean_text(text)
    assert cleaned == ("Important: see contoso.com. Or the form now ! first second policy_id")
    ssml = build_ssml(text, voice=AVA, lang="en-US")
    assert spoken(ssml) == cleaned


def test_voice_locale() -> None:
    assert voice_locale("fr-FR-VivienneMultilingualNeural") == "fr-FR"
    assert voice_locale("zh-CN-XiaoxiaoNeural") == "zh-CN"
    assert voice_locale("ContosoNeural", default="de-DE") == "de-DE"


# --- Chunking ------------------------------------------------------------------------------


def _sentences(rng: random.Random, count: int) -> str:
    words = ["claim", "policy", "accident", "yesterday", "vehicle", "a", "insurance", "the"]
    out = []
    for _ in range(count):
        sentence = " ".join(rng.choice(words) for _ in range(rng.randint(1, 30)))
        out.append(sentence.capitalize() + rng.choice([".", "?", "!", ";"]))
    return " ".join(out)


def test_chunks_keep_whole_sentences_under_the_limit() -> None:
    text = _sentences(random.Random(1), 60)
    chunks = chunk_text(text)
    assert len(chunks) > 3
    assert all(len(chunk) <= MAX_CHARS for chunk in chunks)
    assert " ".join(chunks) == text  # order and every character kept
    assert all(chunk[-1] in ".?!;" for chunk in chunks)  # cut between sentences


@pytest.mark.parametrize("seed", range(20))
def test_chunks_never_split_words(seed: int) -> None:
    rng = random.Random(seed)
    limit = rng.choice([20, 50, 120, 400])
    # Long sentences without punctuation force cuts between words.
    text = " ".join(
        "".join(rng.choice("abcdefghij") for _ in range(rng.randint(1, 15)))
        + rng.choice(["", "", "", ".", ","])
        for _ in range(rng.randint(1, 400))
    )
    chunks = chunk_text(text, limit)
    assert all(0 < len(chunk) <= limit for chunk in chunks)
    assert " ".join(chunks).split() == text.split()


def test_only_a_word_longer_than_the_limit_is_cut() -> None:
    assert chunk_text("ab " + "x" * 25 + " cd", 10) == ["ab", "x" * 10, "x" * 10, "xxxxx cd"]


def test_chunking_edge_cases() -> None:
    assert chunk_text("") == []
    assert chunk_text("   \n ") == []
    assert chunk_text("One.\nTwo.  Three.") == ["One. Two. Three."]
    with pytest.raises(ValueError):
        chunk_text("x", 0)


# --- Recognition events -> transcript --------------------------------------------------------


def recognizing(text: str) -> RecognitionEvent:
    return RecognitionEvent(kind="recognizing", reason="RecognizingSpeech", text=text)


def recognized(text: str, confidence: float | None = None) -> RecognitionEvent:
    return RecognitionEvent(
        kind="recognized", reason="RecognizedSpeech", text=text, confidence=confidence
    )


def canceled(reason: str, code: str = "NoError", details: str = "") -> RecognitionEvent:
    return RecognitionEvent(
        kind="canceled", cancel_reason=reason, error_code=code, error_details=details
    )


def test_recognition_partials_and_final_transcript() -> None:
    state = RecognitionState()
    partials = [
        state.apply(e)
        for e in [
            recognizing("I would"),
            recognizing("I would like"),
            recognizing("I would like"),  # unchanged: nothing new to publish
            recognized("I would like to report an accident.", 0.9),
            RecognitionEvent(kind="recognized", reason="NoMatch"),  # a cough
            recognizing("it was"),
            recognized("It was yesterday.", 0.6),
            canceled("EndOfStream"),
            recognizing("late"),  # after the end: ignored
        ]
    ]
    assert partials == [
        "I would",
        "I would like",
        None,
        None,
        None,
        "I would like to report an accident. it was",
        None,
        None,
        None,
    ]
    assert state.done and state.error is None
    transcript = state.transcript("en-US", 3.5)
    assert transcript.text == "I would like to report an accident. It was yesterday."
    assert transcript.language == "en-US" and transcript.duration_s == 3.5
    # Word-weighted: 7 words at 0.9, 3 at 0.6.
    assert transcript.confidence == pytest.approx((7 * 0.9 + 3 * 0.6) / 10)


def test_recognition_of_silence_is_empty() -> None:
    state = RecognitionState()
    state.apply(RecognitionEvent(kind="recognized", reason="NoMatch"))
    state.apply(RecognitionEvent(kind="stopped"))
    transcript = state.transcript("fr-FR", 1.0)
    assert transcript.text == "" and transcript.confidence is None


@pytest.mark.parametrize(
    ("code", "retryable"),
    [("ConnectionFailure", True), ("ServiceTimeout", True), ("AuthenticationFailure", False)],
)
def test_recognition_error_becomes_speech_error(code: str, retryable: bool) -> None:
    state = RecognitionState()
    state.apply(recognized("Hello.", 0.9))
    assert state.apply(canceled("Error", code, "WS_OPEN_ERROR details")) is None
    assert state.done
    with pytest.raises(SpeechError) as caught:
        state.transcript("en-US", 1.0)
    assert caught.value.code == code and caught.value.retryable is retryable
    assert caught.value.details == "WS_OPEN_ERROR details"
    assert code in str(caught.value) and "WS_OPEN_ERROR details" in str(caught.value)


def test_confidence_from_detailed_json() -> None:
    raw = json.dumps(
        {"RecognitionStatus": "Success", "DisplayText": "Hi.", "NBest": [{"Confidence": 0.87}]}
    )
    assert confidence_from_json(raw) == pytest.approx(0.87)
    assert confidence_from_json(json.dumps({"DisplayText": "Hi."})) is None
    assert confidence_from_json(json.dumps({"NBest": []})) is None
    assert confidence_from_json("not json") is None
    assert confidence_from_json(None) is None


# --- Synthesis events -> PCM ---------------------------------------------------------------


def test_synthesis_yields_pieces_as_they_come() -> None:
    state = SynthesisState()
    assert (
        state.apply(SynthesisEvent(kind="audio", audio=b"\x01\x02\x03\x04")) == b"\x01\x02\x03\x04"
    )
    assert state.apply(SynthesisEvent(kind="audio", audio=b"\x05\x06")) == b"\x05\x06"
    # The final result repeats all the audio: nothing more to send.
    assert state.apply(SynthesisEvent(kind="completed", audio=bytes(range(1, 7)))) == b""
    assert state.done
    assert state.apply(SynthesisEvent(kind="audio", audio=b"\x09\x09")) == b""


def test_synthesis_completion_sends_what_the_pieces_missed() -> None:
    state = SynthesisState()
    assert state.apply(SynthesisEvent(kind="audio", audio=b"\x01\x02")) == b"\x01\x02"
    assert state.apply(SynthesisEvent(kind="completed", audio=b"\x01\x02\x03\x04")) == b"\x03\x04"


def test_synthesis_keeps_samples_whole() -> None:
    state = SynthesisState()
    assert state.apply(SynthesisEvent(kind="audio", audio=b"\x01\x02\x03")) == b"\x01\x02"
    assert state.apply(SynthesisEvent(kind="audio", audio=b"\x04\x05")) == b"\x03\x04"
    assert state.apply(SynthesisEvent(kind="completed", audio=b"\x01\x02\x03\x04\x05")) == b""


def test_synthesis_cancellation_becomes_speech_error() -> None:
    state = SynthesisState()
    state.apply(SynthesisEvent(kind="audio", audio=b"\x01\x02"))
    with pytest.raises(SpeechError) as caught:
        state.apply(
            SynthesisEvent(
                kind="canceled",
                cancel_reason="Error",
                error_code="AuthenticationFailure",
                error_details="WebSocket upgrade failed: Authentication error (401)",
            )
        )
    assert state.done
    assert caught.value.code == "AuthenticationFailure" and not caught.value.retryable
    assert "Authentication error (401)" in str(caught.value)


# --- Configuration ---------------------------------------------------------------------------


def test_account_needs_a_key_and_exactly_one_place() -> None:
    with pytest.raises(ValueError):
        SpeechAccount("k")
    with pytest.raises(ValueError):
        SpeechAccount("k", region="westeurope", endpoint="wss://x")
    with pytest.raises(ValueError):
        SpeechAccount("", region="westeurope")
    with pytest.raises(ValueError):
        SpeechAccount("k", endpoint="ftp://x")
    SpeechAccount("k", region="westeurope")
    SpeechAccount("k", endpoint="wss://westeurope.tts.speech.microsoft.com")


@needs_sdk
def test_account_picks_host_or_endpoint() -> None:
    sdk = load_sdk()
    host = sdk.PropertyId.SpeechServiceConnection_Host
    endpoint = sdk.PropertyId.SpeechServiceConnection_Endpoint
    # A bare ws(s) host: the SDK appends the STT or TTS path itself.
    config = SpeechAccount("k", endpoint="ws://127.0.0.1:9/").config()
    assert config.get_property(host) == "ws://127.0.0.1:9" and config.get_property(endpoint) == ""
    resource = "https://contoso.cognitiveservices.azure.com/"
    config = SpeechAccount("k", endpoint=resource).config()
    assert config.get_property(endpoint) == resource and config.get_property(host) == ""
    assert SpeechAccount("k", region="westeurope").config().region == "westeurope"


def test_sdk_failures_surface_as_speech_errors() -> None:
    with pytest.raises(SpeechError) as caught, sdk_errors("synthesis"):
        raise RuntimeError("Exception with error code: 0x5 (SPXERR_INVALID_STATE)")
    assert caught.value.code == "SdkError" and "SPXERR_INVALID_STATE" in str(caught.value)
    with pytest.raises(ValueError), sdk_errors("synthesis"):  # our own bugs stay what they are
        raise ValueError("bad argument")


@needs_sdk
def test_engines_validate_sample_rates() -> None:
    with pytest.raises(ValueError):
        AzureTts("k", "westeurope", sample_rate=22050)
    with pytest.raises(ValueError):
        AzureStt("k", "westeurope", sample_rate=44100)
    assert AzureTts("k", "westeurope", sample_rate=24000).sample_rate == 24000


@needs_sdk
def test_engines_implement_the_protocols() -> None:
    assert isinstance(AzureTts("k", endpoint=UNREACHABLE), TextToSpeech)
    stt = AzureStt("k", endpoint=UNREACHABLE)
    # A streaming recogniser: the media gateway hears each utterance live through it.
    assert isinstance(stt, SpeechToText) and isinstance(stt, StreamingSpeechToText)
    streaming: StreamingSpeechToText = stt  # and for mypy, structurally
    assert streaming.sample_rate == 16000


@needs_sdk
async def test_each_stream_has_its_own_language() -> None:
    stt = AzureStt("k", endpoint=UNREACHABLE)
    french, english = stt.stream("fr-FR"), stt.stream("en-US")
    try:
        assert isinstance(french, SpeechStream)
        assert (french.language, english.language) == ("fr-FR", "en-US")
    finally:
        french.close()
        english.close()


# --- The real SDK against nothing --------------------------------------------------------------


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A TCP port that accepts connections and never answers (a hung service)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield f"ws://127.0.0.1:{server.getsockname()[1]}"


@needs_sdk
@pytest.mark.timeout(15)
async def test_tts_unreachable_host_is_a_clear_error() -> None:
    tts = AzureTts("not-a-key", endpoint=UNREACHABLE)
    start = time.monotonic()
    with pytest.raises(SpeechError) as caught:
        async for _ in tts.synthesize("Hello, how can I help you?"):
            pytest.fail("no audio can come from an unreachable host")
    assert time.monotonic() - start < 10
    assert caught.value.code == "ConnectionFailure" and caught.value.retryable
    assert "127.0.0.1:9" in caught.value.details


@needs_sdk
@pytest.mark.timeout(15)
async def test_tts_silent_service_times_out(silent_server: str) -> None:
    tts = AzureTts("not-a-key", endpoint=silent_server, chunk_timeout_s=1.0)
    start = time.monotonic()
    with pytest.raises(SpeechError) as caught:
        async for _ in tts.synthesize("Hello."):
            pytest.fail("a silent service sends no audio")
    # Our bound, not the SDK's own 80 s wait for the first chunk.
    assert 0.9 < time.monotonic() - start < 5
    assert caught.value.code == "Timeout" and caught.value.retryable


@needs_sdk
@pytest.mark.timeout(15)
async def test_stt_unreachable_host_is_a_clear_error() -> None:
    stt = AzureStt("not-a-key", endpoint=UNREACHABLE)
    start = time.monotonic()
    with pytest.raises(SpeechError) as caught:
        await stt.transcribe(b"\x00\x00" * 16000, language="fr-FR")
    assert time.monotonic() - start < 10
    assert caught.value.code == "ConnectionFailure" and caught.value.retryable
    assert "127.0.0.1:9" in caught.value.details


@needs_sdk
@pytest.mark.timeout(15)
async def test_stt_stream_reports_the_failure_everywhere() -> None:
    stt = AzureStt("not-a-key", endpoint=UNREACHABLE)
    async with stt.stream("en-US") as stream:
        stream.push(b"\x00\x00" * 1600)
        assert [text async for text in stream.partials()] == []  # ends when the session fails
        with pytest.raises(SpeechError):
            stream.push(b"\x00\x00" * 320)
        with pytest.raises(SpeechError) as caught:
            await stream.final()
        assert caught.value.code == "ConnectionFailure"


@needs_sdk
@pytest.mark.timeout(15)
async def test_stt_stream_close_is_immediate() -> None:
    stream = AzureStt("not-a-key", endpoint=UNREACHABLE).stream("en-US")
    stream.push(b"\x00\x00" * 1600)
    await asyncio.sleep(0.1)  # the SDK is still trying to connect
    start = time.monotonic()
    stream.close()  # barge-in or hang-up: the SDK teardown runs in the background
    assert [text async for text in stream.partials()] == []
    assert time.monotonic() - start < 0.2
    with pytest.raises(RuntimeError):
        stream.push(b"\x00\x00")


@needs_sdk
@pytest.mark.timeout(15)
async def test_tts_cancelled_consumer_stops_at_once(silent_server: str) -> None:
    tts = AzureTts("not-a-key", endpoint=silent_server, chunk_timeout_s=10.0)

    async def play() -> None:
        async for _ in tts.synthesize("Hello, and welcome."):
            pass

    task = asyncio.create_task(play())
    await asyncio.sleep(0.3)
    start = time.monotonic()
    task.cancel()  # the caller barged in
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - start < 0.2


@needs_sdk
async def test_stt_tiny_clip_needs_no_service() -> None:
    stt = AzureStt("not-a-key", endpoint=UNREACHABLE)
    transcript = await stt.transcribe(b"\x00\x00" * 800, language="en-US")
    assert transcript.text == "" and transcript.duration_s == pytest.approx(0.05)
    with pytest.raises(ValueError):
        await stt.transcribe(b"\x00" * 3, language="en-US")


# --- The real SDK against a local text-to-speech service ----------------------------------------


@pytest.fixture
async def tts_service() -> AsyncIterator[AzureTtsServer]:
    async with AzureTtsServer() as server:
        yield server


def _express_as(ssml: str) -> ET.Element | None:
    return parse(ssml).find(".//mstts:express-as", NS)


@needs_sdk
@pytest.mark.timeout(30)
async def test_tts_sends_the_style_voice_and_language_in_its_ssml(
    tts_service: AzureTtsServer,
) -> None:
    tts = AzureTts("k", endpoint=tts_service.endpoint, chunk_timeout_s=5.0)
    vivienne = "fr-FR-VivienneMultilingualNeural"
    audio = b"".join(
        [c async for c in tts.synthesize("Ravie !", voice=vivienne, lang="fr-FR", style="cheerful")]
    )
    assert audio == tts_service.audio  # what the service sent, whole
    (request,) = tts_service.requests
    voice = parse(request.ssml).find("s:voice", NS)
    assert voice is not None and voice.get("name") == vivienne
    express = _express_as(request.ssml)
    assert express is not None and express.get("style") == "cheerful"
    lang = voice.find("s:lang", NS)
    assert lang is not None and lang.get(XML_LANG) == "fr-FR"
    assert spoken(request.ssml) == "Ravie !"
    assert "deploymentId" not in request.path_qs  # a prebuilt voice has no deployment

    # No style: no express-as at all (engines and voices without styles stay neutral).
    async for _ in tts.synthesize("Hello.", style="none"):
        pass
    assert _express_as(tts_service.requests[-1].ssml) is None


@needs_sdk
@pytest.mark.timeout(30)
async def test_tts_reaches_each_custom_voice_through_its_deployment(
    tts_service: AzureTtsServer,
) -> None:
    tts = AzureTts(
        "k",
        endpoint=tts_service.endpoint,
        default_voice="ContosoEnNeural",
        custom_voice_endpoint_id="dep-en",
        voice_endpoints={"ContosoFrNeural": "dep-fr"},
        chunk_timeout_s=5.0,
    )
    for voice in ("ContosoFrNeural", None, "de-DE-SeraphinaMultilingualNeural"):
        async for _ in tts.synthesize("Hi.", voice=voice, style="sad"):
            pass
    deployments = [r.path_qs.partition("deploymentId=")[2] for r in tts_service.requests]
    assert deployments == ["dep-fr", "dep-en", ""]
    names = [parse(r.ssml).find("s:voice", NS) for r in tts_service.requests]
    assert [v.get("name") for v in names if v is not None] == [
        "ContosoFrNeural",
        "ContosoEnNeural",
        "de-DE-SeraphinaMultilingualNeural",
    ]
    assert all(_express_as(r.ssml) is not None for r in tts_service.requests)
