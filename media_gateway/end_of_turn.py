"""Adaptive end of turn: how long a silence ends the caller's turn, from what was said so far.

Pure text rules on the early transcript (the one started when the caller paused):

- a complete sentence or question ends the turn after a short silence (`SHORT_SILENCE_MS`);
- a transcript that is neither clearly complete nor clearly going on (no punctuation, nothing
  heard) waits the configured silence (`vad_silence_timeout_ms`), then a little more;
- a sentence clearly still going (a trailing "and", "the", "because", "was", a comma or an
  ellipsis), a hesitation ("um", "euh"), a number, an address or a spelling being dictated
  waits the configured silence and then holds the turn a while longer for more speech, as a
  number always did: people pause longest mid-sentence, after "um" and between digit groups.

On purpose cautious: a turn ended early while the caller is still going (a cut-off) costs far
more than 300 ms of waiting, so anything not clearly complete waits at least the configured
silence.
The words are end-of-turn specific (what ends or continues a clause), so they live here, beside
the dictation words shared with the guardrails (`domain/guardrails/words.py`, via `turns`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import Enum

from media_gateway import turns

# Silence that ends a turn whose early transcript is complete (the default of the flag
# `adaptive_silence_ms`). Below ~200 ms the gaps inside fluent speech (a breath, a stop
# consonant) would end turns; above it, fewer pauses after a clause that looks complete
# ("I was on the highway ... when") are taken for the end, for that much more latency.
SHORT_SILENCE_MS = 200.0
# The extra wait for more speech after a transcript neither complete nor clearly going on:
# Whisper often drops the "um" a caller paused on ("It cost me" for "It cost me, um, ...").
UNSURE_HOLD_MS = 500.0
# Silence at which the early transcript starts when the end of turn adapts: its decision is
# ready ~one transcription later (the default, without adaptation, is the 200 ms pre-roll).
EARLY_STT_MS = 100.0

# A clause does not end on these: more is coming.
CONTINUATIONS: Mapping[str, frozenset[str]] = {
    "en": frozenset(
        "and or but so because cause if when while than unless until since whether which whose"
        " the a an my your his our their its every each these those"
        " of to for with from in on into onto about near behind between through without under"
        " i we they he she i'm we're they're i've i'd i'll let's there's"
        " is was are were am be been being have has had do does did will would can could"
        " should shall must".split()
    ),
    "fr": frozenset(
        "et ou mais donc car parce que qu' qui quand si lorsque comme"
        " le la les l' un une des du de d' à au aux"
        " en dans sur sous avec pour par chez vers entre sans"
        " mon ma mes ton ta tes son sa ses notre nos votre vos leur leurs ce cet cette ces"
        " je j' tu il ils on est était suis ai avait sont".split()
    ),
}
# A verb at the end is a whole short answer after a pronoun ("Yes, I did.", "It is."), a clause
# still going anywhere else ("My car was ...", "I think it was, um ...").
_AUXILIARIES = frozenset(
    "is was are were am be been have has had do does did will would can could should shall"
    " must est était suis ai avait sont".split()
)
_PRONOUNS = frozenset(
    "i you he she it we they there that this je tu il elle on nous vous ils".split()
)
# Endings that look continued but close a sentence ("I think so.").
COMPLETE_ENDINGS = frozenset(
    "think so|hope so|guess so|believe so|said so|and so on|or so|hold on|come on|go on"
    "|carry on|move on|come in|log in|sign in|fill in|check in|what for|who with".split("|")
)
_SHORT_ANSWER_WORDS = 3  # "Yes, I did.": at most this many words
# Hesitations: the caller is looking for the next word; a long pause often follows.
FILLERS: Mapping[str, frozenset[str]] = {
    "en": frozenset("um umm uh uhm er erm hm hmm ah eh like".split()),
    "fr": frozenset("euh heu hum ben bah beh bref".split()),
}
FILLER_PHRASES = frozenset(["you know", "i mean", "tu sais", "je veux dire"])
# Whole answers, complete even when the recogniser gives them no full stop ("That's right").
SHORT_ANSWERS = frozenset(
    "thank you|no thank you|thanks|that's right|that's correct|correct|exactly|of course"
    "|not really|i don't know|goodbye|bye|merci|non merci|c'est ça|exactement|bien sûr"
    "|je ne sais pas|au revoir".split("|")
)
_ANSWER_STARTS = frozenset(["yes", "no", "yeah", "nope", "oui", "non"])
# An email address announced: it is not given until its domain is ("jane dot miller at
# example dot com"); Whisper's full stop after the first part ("My email is jane.") is not an end.
_EMAIL = re.compile(r"\b(e-?mail|mail|courriel)( address| adresse)?('s| is| c'est| est)\b")
_DOMAIN = re.compile(r"@|\bat\b.*\b(dot|point)\b|\.(com|org|net|fr|de|co|uk|io|eu)\b")

# Whatever the language: a stop, a question mark or an exclamation mark ends a sentence...
_FINAL = re.compile(r"[.?!。？！]['\"»”)]*$")
# ...but not an ellipsis: the recogniser heard the voice trail off.
_TRAILING = re.compile(r"(\.\.\.|…|[,;:\-–—])['\"»”)]*$")
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'"})


class Verdict(Enum):
    """What the early transcript says about the turn."""

    COMPLETE = "complete"  # a whole sentence or question: the short silence ends it
    INCOMPLETE = "incomplete"  # not clearly complete: the configured silence
    HOLD = "hold"  # clearly going on: the configured silence, then a hold for more


def _words(table: Mapping[str, frozenset[str]], lang: str) -> frozenset[str]:
    """The words of `lang` ("en-US" → "en"); every language's for one not listed."""
    code = lang.split("-")[0].split("_")[0].lower()
    if code in table:
        return table[code]
    return frozenset(word for words in table.values() for word in words)


def _tokens(text: str) -> list[str]:
    """Lower-case words, apostrophes kept ("i'm", "c'est"), an elided article split off."""
    words = turns.normalise(text.translate(_APOSTROPHES)).split()
    out: list[str] = []
    for word in words:
        # French elision: "l'accident" is "l'" + "accident" (only the article ends a clause).
        head, apostrophe, tail = word.partition("'")
        if apostrophe and len(head) <= 3 and tail and head in {"l", "d", "j", "qu", "c", "n"}:
            out += [head + "'", tail]
        else:
            out.append(word)
    return out


def hesitating(text: str, lang: str) -> bool:
    """True when the transcript ends on a hesitation ("so, um", "c'est, euh")."""
    words = _tokens(text)
    if not words:
        return False
    if " ".join(words[-2:]) in FILLER_PHRASES:
        return True
    return words[-1] in _words(FILLERS, lang)


def _email_unfinished(text: str) -> bool:
    """An email address announced ("my email is jane.") and its domain not given yet."""
    lowered = text.lower().translate(_APOSTROPHES)
    announced = _EMAIL.search(lowered)
    return announced is not None and not _DOMAIN.search(lowered[announced.end() :])


def judge(text: str, lang: str) -> Verdict:
    """The verdict on an early transcript `text` in `lang` ("en-US")."""
    stripped = text.strip()
    words = _tokens(stripped)
    if not words:
        return Verdict.INCOMPLETE  # nothing heard yet (or noise): no reason to hurry
    if stripped.endswith("?") or stripped.endswith("？"):
        return Verdict.COMPLETE  # a question, whatever its last word ("Who is this?")
    if (
        turns.unfinished(stripped, lang)
        or hesitating(stripped, lang)
        or _email_unfinished(stripped)
    ):
        return Verdict.HOLD
    if _TRAILING.search(stripped):
        return Verdict.HOLD
    last = words[-1]
    if " ".join(words[-2:]) in COMPLETE_ENDINGS or " ".join(words[-3:]) in COMPLETE_ENDINGS:
        return Verdict.COMPLETE if _FINAL.search(stripped) else Verdict.INCOMPLETE
    short = len(words) <= _SHORT_ANSWER_WORDS
    if last in _AUXILIARIES and short and len(words) >= 2 and words[-2] in _PRONOUNS:
        pass  # "Yes, I did." -- a whole short answer, judged on its punctuation below
    elif last in _words(CONTINUATIONS, lang):
        return Verdict.HOLD
    if _FINAL.search(stripped):
        return Verdict.COMPLETE
    # No punctuation (Whisper leaves it off some clips, a partial has none): only a whole short
    # answer ("yes", "That's right", "Yes, I did") is clearly over.
    if turns.is_backchannel(stripped) or " ".join(words) in SHORT_ANSWERS:
        return Verdict.COMPLETE
    if short and words[0] in _ANSWER_STARTS:
        return Verdict.COMPLETE
    return Verdict.INCOMPLETE


def silence_ms(verdict: Verdict, configured_ms: float, short_ms: float = SHORT_SILENCE_MS) -> float:
    """The silence that ends a turn with this verdict: `short_ms` for a complete one (the
    configured one when shorter), the configured one otherwise."""
    if verdict is Verdict.COMPLETE:
        return min(short_ms, configured_ms)
    return configured_ms


def hold_ms(text: str, lang: str, *, adaptive: bool, number_hold_ms: float) -> float:
    """How much longer than the configured silence a turn waits for more speech: a number or
    a spelling being dictated, `number_hold_ms` (always); when the end of turn adapts, as long
    for anything clearly going on, and `UNSURE_HOLD_MS` for a transcript not clearly complete
    (the recogniser may have dropped the "um" the caller paused on)."""
    if turns.unfinished(text, lang):
        return number_hold_ms
    if not adaptive:
        return 0.0
    verdict = judge(text, lang)
    if verdict is Verdict.HOLD:
        return number_hold_ms
    return UNSURE_HOLD_MS if verdict is Verdict.INCOMPLETE else 0.0
