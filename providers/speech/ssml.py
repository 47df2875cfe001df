"""SSML for Azure text-to-speech: text cleaning, escaping and 400-character chunks (pure)."""

from __future__ import annotations

import re
from xml.sax.saxutils import escape, quoteattr

# Azure speaks at most this many characters well in one request (the reference's limit).
MAX_CHARS = 400
MIN_RATE = 0.5
MAX_RATE = 2.0
# Narrow-band telephone EQ; the service ignores effect names it does not know.
TELEPHONE_EFFECT = "eq_telecomhp8k"
# Half strength: the full styles sound theatrical on a phone line (as in the reference).
_STYLE_DEGREE = "0.5"
_NO_STYLES = frozenset({"", "none", "default", "neutral"})

_XML_ENTITIES = {'"': "&quot;", "'": "&apos;"}
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)\s]*\)")
_URL = re.compile(r"\b(?:https?://|www\.)[^\s<>\"']+", re.IGNORECASE)
_URL_HOST = re.compile(r"^(?:https?://)?(?:www\.)?([^/?#:]+)", re.IGNORECASE)
# Markdown emphasis, code and heading marks; a lone "*" or "_" inside a word is kept.
_MD_MARKS = re.compile(r"\*{1,3}|`+|(?<!\w)_{1,3}|_{1,3}(?!\w)|^\s{0,3}#{1,6}\s+", re.MULTILINE)
_MD_BULLET = re.compile(r"^[ \t]*[-+•][ \t]+", re.MULTILINE)
# Pictographs, dingbats, flags, keycaps, variation selectors, joiners and skin tones: the
# voice reads them by name ("smiling face with smiling eyes") or stumbles.
_EMOJI = re.compile(
    "[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\u2300-\u23ff"
    "\ufe0e\ufe0f\u200d\u20e3\U000e0020-\U000e007f]"
)
# Control characters are not allowed in XML 1.0: the service rejects the whole request.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")
_SPACES = re.compile(r"\s+")
_SENTENCE_END = re.compile(r"(?<=[.!?;:…。！？])\s+")
_VOICE_LOCALE = re.compile(r"^([a-z]{2,3}-[A-Z]{2,4})-")


def clean_text(text: str) -> str:
    """What the voice should read: no Markdown marks, URLs cut to their host, no emojis."""
    text = _CONTROL.sub(" ", text)
    text = _MD_LINK.sub(r"\1", text)
    text = _URL.sub(_short_url, text)
    text = _MD_BULLET.sub("", text)
    text = _MD_MARKS.sub("", text)
    text = _EMOJI.sub("", text)
    return _SPACES.sub(" ", text).strip()


def _short_url(match: re.Match[str]) -> str:
    # "https://www.contoso.com/claims/123?id=4" is read as "contoso.com": the path is noise
    # on the phone, and the trailing sentence punctuation stays with the sentence.
    url = match.group(0)
    trailing = ""
    while url and url[-1] in ".,;:!?)":
        url, trailing = url[:-1], url[-1] + trailing
    host = _URL_HOST.match(url)
    return (host.group(1) if host else url) + trailing


def rate_percent(rate: float) -> str:
    """Speaking speed as an SSML prosody rate: 1.25 -> "+25%", 0.8 -> "-20%" (0.5..2.0)."""
    rate = min(MAX_RATE, max(MIN_RATE, rate))
    return f"{round((rate - 1.0) * 100):+d}%"


def voice_locale(voice: str, default: str = "en-US") -> str:
    """The locale a prebuilt voice name starts with ("fr-FR-VivienneMultilingualNeural")."""
    match = _VOICE_LOCALE.match(voice)
    return match.group(1) if match else default


def build_ssml(
    text: str,
    *,
    voice: str,
    lang: str,
    rate: float = 1.0,
    style: str = "none",
    custom_voice_endpoint_id: str | None = None,
    effect: str | None = TELEPHONE_EFFECT,
) -> str:
    """One ``<speak>`` document: cleaned, escaped ``text`` spoken by ``voice`` in ``lang``.

    ``style`` other than "none" adds ``mstts:express-as`` (voices without that style speak
    neutrally). ``<lang>`` is only emitted for prebuilt multilingual voices: a custom voice
    (``custom_voice_endpoint_id`` set) speaks the locale it was trained on. The endpoint id
    itself is a connection setting (``SpeechConfig.endpoint_id``), never part of the SSML.
    """
    body = f"<prosody rate={quoteattr(rate_percent(rate))}>{escape_text(text)}</prosody>"
    if style.strip().lower() not in _NO_STYLES:
        body = (
            f"<mstts:express-as style={quoteattr(style.strip())} "
            f'styledegree="{_STYLE_DEGREE}">{body}</mstts:express-as>'
        )
    if custom_voice_endpoint_id is None and "multilingual" in voice.lower():
        body = f"<lang xml:lang={quoteattr(lang)}>{body}</lang>"
    voice_attrs = f"name={quoteattr(voice)}"
    if effect:
        voice_attrs += f" effect={quoteattr(effect)}"
    return (
        '<speak version="1.0" xmlns="http://www.w3.org/2001/10/synthesis" '
        f'xmlns:mstts="https://www.w3.org/2001/mstts" xml:lang={quoteattr(lang)}>'
        f"<voice {voice_attrs}>{body}</voice></speak>"
    )


def escape_text(text: str) -> str:
    """``clean_text`` then XML-escaped, quotes included, for an SSML text node."""
    return escape(clean_text(text), _XML_ENTITIES)


def chunk_text(text: str, limit: int = MAX_CHARS) -> list[str]:
    """Split ``text`` into chunks of at most ``limit`` characters, in order.

    Whole sentences are packed together; a longer sentence is cut between words. Only a
    single word longer than ``limit`` is ever cut inside.
    """
    if limit < 1:
        raise ValueError("limit must be positive")
    chunks: list[str] = []
    current = ""
    for sentence in _SENTENCE_END.split(_SPACES.sub(" ", text).strip()):
        for piece in _fit(sentence, limit):
            if current and len(current) + 1 + len(piece) <= limit:
                current = f"{current} {piece}"
            else:
                if current:
                    chunks.append(current)
                current = piece
    if current:
        chunks.append(current)
    return chunks


def _fit(sentence: str, limit: int) -> list[str]:
    """``sentence`` as pieces of at most ``limit`` characters, cut between words."""
    if len(sentence) <= limit:
        return [sentence] if sentence else []
    pieces: list[str] = []
    current = ""
    for word in sentence.split(" "):
        while len(word) > limit:  # no boundary to cut at: cut the word itself
            if current:
                pieces.append(current)
                current = ""
            pieces.append(word[:limit])
            word = word[limit:]
        if current and len(current) + 1 + len(word) <= limit:
            current = f"{current} {word}"
        else:
            if current:
                pieces.append(current)
            current = word
    if current:
        pieces.append(current)
    return pieces
