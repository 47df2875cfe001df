"""What a recognize hears: DTMF tones, speech, or one of its choices."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from acs_emulator import results
from acs_emulator.models import ResultInfo
from acs_emulator.schemas import Recognize

if TYPE_CHECKING:
    from acs_emulator.calls import Call

_DIGITS = "zero one two three four five six seven eight nine".split()
TONE_NAMES = {  # key pressed -> DtmfTone value the events carry
    **{str(digit): name for digit, name in enumerate(_DIGITS)},
    "*": "asterisk",
    "#": "pound",
    "A": "a",
    "B": "b",
    "C": "c",
    "D": "d",
}
DEFAULT_INITIAL_SILENCE_S = 5.0
DEFAULT_INTER_TONE_S = 2.0
DEFAULT_END_SILENCE_MS = 500.0
_NON_WORD = re.compile(r"[^\w\s]")
Outcome = tuple[str, ResultInfo, dict[str, Any]]


@dataclass
class PhoneInput:
    kind: Literal["dtmf", "speech"]
    value: str  # a tone name ("five", "pound") or what was said
    confidence: float = 0.9
    source: str | None = None  # raw id of an added participant; None: the call's phone


def normalize(text: str) -> str:
    return " ".join(_NON_WORD.sub(" ", text.lower()).split())


async def collect(call: Call, request: Recognize) -> Outcome:
    """Wait for the phone's input after the prompt: the event name, result and fields."""
    options = request.recognize_options
    scale = call.timings.time_scale
    initial = (options.initial_silence_timeout_in_seconds or DEFAULT_INITIAL_SILENCE_S) * scale
    kind = request.recognize_input_type
    accepts = {"dtmf"} if kind == "dtmf" else {"speech"} if kind == "speech" else {"dtmf", "speech"}
    source = listened_to(call, request)
    first = await call.next_input(initial, accepts, source)
    if first is None:
        return "RecognizeFailed", results.INITIAL_SILENCE, {}
    if first.kind == "speech":
        end_ms = DEFAULT_END_SILENCE_MS
        if options.speech_options and options.speech_options.end_silence_timeout_in_ms:
            end_ms = options.speech_options.end_silence_timeout_in_ms
        await asyncio.sleep(end_ms / 1000 * scale)
        if kind == "choices":
            return _match_phrase(request, first)
        speech = {"speech": first.value, "confidence": first.confidence}
        fields = {"recognitionType": "speech", "speechResult": speech}
        return "RecognizeCompleted", results.SPEECH_RECOGNIZED, fields
    if kind == "choices":
        for choice in options.choices or []:
            if choice.tone and choice.tone.lower() == first.value:
                fields = {"recognitionType": "choices", "choiceResult": {"label": choice.label}}
                return "RecognizeCompleted", results.DTMF_OPTION, fields
        return "RecognizeFailed", results.INCORRECT_TONE, {}
    return await _collect_tones(call, request, first, source)


def listened_to(call: Call, request: Recognize) -> str | None:
    """The added participant a recognize targets (raw id); None: the call's own phone."""
    target = request.recognize_options.target_participant.key()
    return target if call.party.joined(target) is not None else None


async def _collect_tones(
    call: Call, request: Recognize, first: PhoneInput, source: str | None
) -> Outcome:
    dtmf = request.recognize_options.dtmf_options
    max_tones = (dtmf.max_tones_to_collect if dtmf else None) or 1
    stop = {t.lower() for t in (dtmf.stop_tones if dtmf and dtmf.stop_tones else [])}
    inter = (dtmf.inter_tone_timeout_in_seconds if dtmf else None) or DEFAULT_INTER_TONE_S
    inter *= call.timings.time_scale
    tones: list[str] = []
    current: PhoneInput | None = first
    while current is not None:
        if current.value in stop:
            return _tones("RecognizeCompleted", results.STOP_TONE, tones)
        tones.append(current.value)
        if len(tones) >= max_tones:
            return _tones("RecognizeCompleted", results.MAX_DIGITS, tones)
        current = await call.next_input(inter, {"dtmf"}, source)
    return "RecognizeFailed", results.INTER_DIGIT, {}


def _tones(name: str, result: ResultInfo, tones: list[str]) -> Outcome:
    return name, result, {"recognitionType": "dtmf", "dtmfResult": {"tones": tones}}


def _match_phrase(request: Recognize, said: PhoneInput) -> Outcome:
    """Case- and punctuation-insensitive; a phrase may be part of a longer utterance."""
    heard = f" {normalize(said.value)} "
    best: tuple[int, str] | None = None
    for choice in request.recognize_options.choices or []:
        for phrase in choice.phrases:
            wanted = normalize(phrase)
            if wanted and f" {wanted} " in heard and (best is None or len(wanted) > best[0]):
                best = (len(wanted), choice.label)
    if best is None:
        return "RecognizeFailed", results.NO_OPTION_MATCH, {}
    result = {"label": best[1], "recognizedPhrase": said.value, "confidence": said.confidence}
    fields = {"recognitionType": "choices", "choiceResult": result}
    return "RecognizeCompleted", results.SPEECH_OPTION, fields
