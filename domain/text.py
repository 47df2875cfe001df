"""Sentence splitting of a streamed answer, and tool calls a local model wrote as text.

Pure code without I/O: workflows import it.
"""

from __future__ import annotations

import json
import re
from typing import Any

from json_repair import repair_json

from domain.call import Action, Style
from domain.tools import TOOL_NAMES

# The reference boundary `([!?;]+|[\.\-:]+(?:$| ))`, except that every boundary must be followed
# by whitespace (or the end, on flush): that keeps "3.5", "10:30", "a.b@c.com" and URLs whole,
# and makes the result independent of how the stream is chunked.
_BOUNDARY = re.compile(r"(?:[!?;…]+|[.:\-]+)[\"'»”’)]*(?=\s|$)")
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof sr jr st vs etc approx dept inc ltd corp tel ext mme mlle mgr cf av bd"
    " p.ex".split()
)
_DOTTED = re.compile(r"^(?:[a-z]\.)+[a-z]$", re.IGNORECASE)  # e.g, i.e, a.m, U.S
# Where a tool call written as text may start; from there on nothing is spoken until flush.
_MARKER = re.compile(r"[{\[]|functools\[|<tool_call>|<\|python_tag\|>|<function[=>]|```")
_PREFIX_KEY = re.compile(r"\s*(style|action|content)\s*=\s*", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z_]*")
_STYLES = tuple(s.value for s in Style)
_ACTIONS = tuple(a.value for a in Action)


class SentenceSplitter:
    """Cuts a streamed answer into speakable sentences as soon as each one is complete."""

    def __init__(self) -> None:
        self._buffer = ""
        self._started = False
        self.style = Style.NONE
        # Tool calls found in held-back text at flush, as `parse_text_tool_calls` returns them.
        self.text_tool_calls: list[tuple[str, str]] = []

    def feed(self, text_delta: str) -> list[str]:
        """Add a delta; return the sentences it completed."""
        self._buffer += text_delta
        text = self._buffer
        hold = _hold_position(text)
        # A boundary at the very end is not confirmed yet: "3." may become "3.5". Nothing after
        # a held-back marker is scanned: a long tool call in text stays linear to stream.
        cuts = [end for end in _boundaries(text[: hold + 1]) if end < hold and text[end].isspace()]
        if not cuts:
            return []
        self._buffer = text[cuts[-1] :]
        return self._finish(_pieces(text[: cuts[-1]], cuts))

    def flush(self) -> list[str]:
        """Return the remaining sentences; tool calls written as text are taken out."""
        text, self._buffer = self._buffer, ""
        hold = _hold_position(text)
        if hold < len(text):
            tail, calls = parse_text_tool_calls(text[hold:])
            self.text_tool_calls.extend(calls)
            text = f"{text[:hold].rstrip()} {_drop_code(tail)}"
        return self._finish(_pieces(text, _boundaries(text)))

    def _finish(self, pieces: list[str]) -> list[str]:
        out = []
        for piece in pieces:
            style, sentence = strip_prefixes(piece)
            if not self._started:
                self._started = True
                self.style = style or Style.NONE
            sentence = " ".join(sentence.split())
            if any(c.isalnum() for c in sentence):
                out.append(sentence)
        return out


def strip_prefixes(text: str) -> tuple[Style | None, str]:
    """Remove leading `style=`, `action=` and `content=` prefixes (any case, repeated)."""
    style: Style | None = None
    while match := _PREFIX_KEY.match(text):
        key = match.group(1).lower()
        text = text[match.end() :]
        if key == "content":
            continue
        value, text = _take_value(text, _STYLES if key == "style" else _ACTIONS)
        if key == "style" and style is None:
            style = Style(value) if value in _STYLES else Style.NONE
    return style, text.lstrip()


def _take_value(text: str, known: tuple[str, ...]) -> tuple[str, str]:
    """Split the prefix value from the text, also when glued to it ("cheerfulHello")."""
    word = _WORD.match(text)
    raw = word.group() if word else ""
    for value in known:
        glued = len(raw) > len(value) and raw[len(value)].isupper()
        if raw.lower() == value or (raw.lower().startswith(value) and glued):
            return value, text[len(value) :]
    return raw.lower(), text[len(raw) :]


def _hold_position(text: str) -> int:
    match = _MARKER.search(text)
    return match.start() if match else len(text)


def _boundaries(text: str) -> list[int]:
    """End offsets of sentence boundaries; abbreviations and initials are not boundaries."""
    ends = []
    for match in _BOUNDARY.finditer(text):
        if match.group().rstrip("\"'»”’)") == "." and _is_abbreviation(text, match.start()):
            continue
        ends.append(match.end())
    return ends


def _is_abbreviation(text: str, dot: int) -> bool:
    word = text[:dot].rsplit(None, 1)[-1] if text[:dot].strip() else ""
    word = word.lstrip("\"'«“‘(")
    if len(word) == 1 and word.isupper():  # an initial, "J. Smith"
        return True
    return word.lower() in _ABBREVIATIONS or bool(_DOTTED.match(word))


def _pieces(text: str, cuts: list[int]) -> list[str]:
    pieces, start = [], 0
    for end in cuts:
        pieces.append(text[start:end])
        start = end
    pieces.append(text[start:])
    return [p for p in pieces if p.strip()]


# --- tool calls written as text -----------------------------------------------------------

_NAME_KEYS = ("name", "tool", "tool_name", "function", "recipient_name")
_ARGS_KEYS = ("arguments", "parameters", "args", "input", "tool_input")
_TAGGED = (
    # (opening, closing): closing None means "to the end of the text".
    ("<tool_call>", "</tool_call>"),
    ("<function>", "</function>"),
    ("<|python_tag|>", "<|eom_id|>"),
    ("[TOOL_CALLS]", None),
    ("functools", None),
)
_FENCE = re.compile(r"```[A-Za-z_]*")
_FUNCTION_TAG = re.compile(r"<function=([A-Za-z_.]+)>(.*?)(?:</function>|$)", re.DOTALL)
_STRAY = re.compile(r"</?tool_call>|<\|python_tag\|>|<\|eom_id\|>|<\|eot_id\|>|\[TOOL_CALLS\]")


def parse_text_tool_calls(text: str) -> tuple[str, list[tuple[str, str]]]:
    """Find tool calls a model wrote in its text; return (text without them, [(name, args)]).

    Only names of `TOOL_NAMES` count; a block that holds none of them is left in the text.
    """
    calls: list[tuple[str, str]] = []
    kept: list[str] = []
    pos = 0
    for start, end, found in _candidates(text):
        if found:
            calls.extend(found)
            kept.append(text[pos:start])
            pos = end
    kept.append(text[pos:])
    return " ".join(" ".join(kept).split()), calls


def normalise_arguments(raw: str) -> str:
    """Tool arguments as valid JSON object text; anything else becomes `{}`."""
    return _dump_args(_load(raw) if raw.strip() else {})


def _candidates(text: str) -> list[tuple[int, int, list[tuple[str, str]]]]:
    """(start, end, calls) of each block that may hold tool calls, left to right."""
    out = []
    i = 0
    while i < len(text):
        block = _block_at(text, i)
        if block is None:
            i += 1
            continue
        end, calls = block
        out.append((i, end, calls))
        i = max(end, i + 1)
    return out


def _block_at(text: str, i: int) -> tuple[int, list[tuple[str, str]]] | None:
    """(end, calls) of the block that may hold tool calls starting at `i`, else None."""
    for opening, closing in _TAGGED:
        if text.startswith(opening, i):
            return _tagged_block(text, i + len(opening), closing)
    if text.startswith("```", i):
        fence = _FENCE.match(text, i)
        return _tagged_block(text, fence.end() if fence else i + 3, "```")
    if text.startswith("<function=", i):
        match = _FUNCTION_TAG.match(text, i)
        if match:
            return match.end(), _calls_in({"name": match.group(1), "arguments": match.group(2)})
    if text[i] in "{[":
        end = _balanced_end(text, i)
        return end, _calls_in(_load(text[i:end]))
    return None


def _tagged_block(text: str, body: int, closing: str | None) -> tuple[int, list[tuple[str, str]]]:
    close = text.find(closing, body) if closing else -1
    if close >= 0:
        inner = _candidates(text[body:close])
        return close + len(closing or ""), [call for _, _, found in inner for call in found]
    # Unterminated, or a tag without a closing one: it spans the block right after it only.
    first = _candidates(text[body:])[:1]
    if not first or text[body : body + first[0][0]].strip():
        return body, []
    return body + first[0][1], first[0][2]


def _balanced_end(text: str, start: int) -> int:
    """End of the JSON value opened at `start` (the text end when it never closes)."""
    depth, in_string, escaped = 0, False, False
    for j in range(start, len(text)):
        char = text[j]
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
            if depth == 0:
                return j + 1
    return len(text)


def _load(payload: str) -> Any:
    """JSON value of a payload, repaired when broken ("" when hopeless)."""
    try:
        return json.loads(payload)
    except ValueError:
        return repair_json(payload, return_objects=True)


def _calls_in(value: Any) -> list[tuple[str, str]]:
    if isinstance(value, list):
        return [call for item in value for call in _calls_in(item)]
    if not isinstance(value, dict):
        return []
    if isinstance(value.get("tool_calls"), list):
        return _calls_in(value["tool_calls"])
    if isinstance(value.get("function"), dict):  # OpenAI shape {"type": "function", ...}
        return _calls_in(value["function"])
    name = next((value[k] for k in _NAME_KEYS if isinstance(value.get(k), str)), "")
    name = name.removeprefix("functions.")
    args: Any = next((value[k] for k in _ARGS_KEYS if k in value), {})
    if isinstance(args, str):
        args = _load(args) if args.strip() else {}
    if name == "multi_tool_use.parallel" and isinstance(args, dict):
        return _calls_in(args.get("tool_uses", []))
    if name not in TOOL_NAMES:
        return []
    return [(name, _dump_args(args))]


def _dump_args(value: Any) -> str:
    if isinstance(value, str) and value.strip().startswith("{"):  # encoded twice
        value = _load(value)
    return json.dumps(value if isinstance(value, dict) else {}, ensure_ascii=False)


def _drop_code(text: str) -> str:
    """Remove what still looks like code or JSON after tool calls were taken out."""
    kept, pos, i = [], 0, 0
    while i < len(text):
        block = _block_at(text, i)
        if block is None:
            i += 1
            continue
        end = block[0]
        if text[i] != "[" or _is_object_list(text[i:end]):
            kept.append(text[pos:i])
            pos = end
        i = max(end, i + 1)
    kept.append(text[pos:])
    return _STRAY.sub(" ", "".join(kept))


def _is_object_list(payload: str) -> bool:
    """True for a JSON list of objects (tool-call like); "[1]" or "[pause]" is speech."""
    try:
        value = json.loads(payload)
    except ValueError:
        return False
    return isinstance(value, list) and any(isinstance(item, dict) for item in value)
