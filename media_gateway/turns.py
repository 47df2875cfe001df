"""What a transcript means for turn taking: unfinished numbers and spellings, backchannels.

Pure text rules, on purpose simple: holding a turn only costs a little latency, and a
backchannel is only ever judged on short overlapping speech. The words, by language, are the
guardrails' (`domain/guardrails/words.py`).
"""

from __future__ import annotations

import re

from domain.guardrails.words import BACKCHANNELS, DICTATION, LEAD_INS, NUMBERS, every


def _lead_ins(words: frozenset[str]) -> re.Pattern[str]:
    """A number announced but not given yet ("my number is", "c'est le"), as whole words:
    Spanish "es" ("mi número es") is not the end of "yes"."""
    alternatives = "|".join(map(re.escape, sorted(words, key=len, reverse=True)))
    return re.compile(rf"(?:^|\s)({alternatives})$")


# Said while dictating a number, an address or an email: more is coming. By the call's
# language: Portuguese "um" (one) is an English hesitation, Italian "due" an English word.
_NUMBER_WORDS = {
    lang: frozenset(NUMBERS.get(lang, ())) | frozenset(DICTATION.get(lang, ()))
    for lang in NUMBERS.keys() | DICTATION.keys()
}
_ALL_NUMBER_WORDS = every(NUMBERS) | every(DICTATION)
_LEAD_INS = {lang: _lead_ins(frozenset(words)) for lang, words in LEAD_INS.items()}
_ALL_LEAD_INS = _lead_ins(every(LEAD_INS))
_BACKCHANNELS = every(BACKCHANNELS)
# A hum however the recogniser spells it: "mhm", "MHN", "hmm", "mm-hmm", "mmh".
_HUM = re.compile(r"[mnh]*m[mnh]*(-[mnh]+)*")
# Fast speech is ~4 words a second; Whisper's inventions on short clips are denser.
MAX_WORDS_PER_S = 5
PHONE_DIGITS = 10
_PUNCTUATION = re.compile(r"[\s.,!?;:…\"«»]+")
# Whisper writes digit groups joined: "06-12", "555-1234", "06/12".
_DIGIT_JOINER = re.compile(r"(?<=\d)[-–/](?=\d)")


def normalise(text: str) -> str:
    """Lower case, punctuation gone, single spaces."""
    return _PUNCTUATION.sub(" ", text.lower()).strip()


def unfinished(text: str, lang: str | None = None) -> bool:
    """True when the caller is clearly mid-number or mid-spelling (wait for more speech); the
    words of `lang` ("en-US" or "en"), or of every language when it is not known."""
    short = lang.split("-")[0].lower() if lang else None
    number_words = _NUMBER_WORDS.get(short, _ALL_NUMBER_WORDS) if short else _ALL_NUMBER_WORDS
    lead_ins = _LEAD_INS.get(short, _ALL_LEAD_INS) if short else _ALL_LEAD_INS
    words = _DIGIT_JOINER.sub(" ", normalise(text)).split()
    if not words:
        return False
    last = words[-1]
    if last.isdigit():
        # A trailing run of 10 digits or more is a whole phone number: nothing more to wait for.
        run = ""
        for word in reversed(words):
            if not word.isdigit():
                break
            run += word
        return len(run) < PHONE_DIGITS
    if last in number_words:
        return True
    if len(last) == 1 and last.isalpha():  # spelling: "D U P"
        return True
    return bool(lead_ins.search(" ".join(words[-3:])))


def is_backchannel(text: str) -> bool:
    """True for an empty transcript or listener noises only ("mhm", "ok yeah", "oui oui")."""
    words = normalise(text)
    if not words or words in _BACKCHANNELS:
        return True
    return all(word in _BACKCHANNELS or _HUM.fullmatch(word) for word in words.split())


def may_be_backchannel(partial: str) -> bool:
    """A backchannel, or a partial text that may still grow into one ("i" → "i see")."""
    words = normalise(partial)
    if is_backchannel(words):
        return True
    return any(phrase.startswith(words) for phrase in _BACKCHANNELS)


def implausible(text: str, speech_s: float) -> bool:
    """More words than `speech_s` of voice can hold: the recogniser made them up.

    Whisper, given half a second of "mhm", sometimes answers with a short sentence ("and make
    them."); nobody says three words in that time.
    """
    # The VAD's span misses the softest edges of the first and last words: 0.1 s more.
    return len(normalise(text).split()) > MAX_WORDS_PER_S * (max(speech_s, 0.0) + 0.1)


def join(parts: list[str]) -> str:
    """One turn from held pieces, without the full stop STT puts after each piece."""
    pieces = [p.strip() for p in parts if p.strip()]
    return " ".join(p.rstrip(".") if i < len(pieces) - 1 else p for i, p in enumerate(pieces))
