"""Every language's word lists, in one place: the guardrails and the gateway's turn taking
read them from here (a language added here is read by every rule built on it).

Words are written folded where a rule compares folded text (`text.fold`: lower case, no
accents) and as spoken where the rule compares lower-cased transcripts (the gateway).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

# The numbers zero to twelve, the n-th word meaning n.
NUMBERS: Mapping[str, tuple[str, ...]] = {
    "en": tuple("zero one two three four five six seven eight nine ten eleven twelve".split()),
    "fr": tuple("zéro un deux trois quatre cinq six sept huit neuf dix onze douze".split()),
}
# Said while dictating a number, an address or an email, besides `NUMBERS`: more is coming.
DICTATION: Mapping[str, tuple[str, ...]] = {
    "en": (
        "oh", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
        "nineteen", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty",
        "ninety", "hundred", "double", "triple", "dash", "dot", "at", "plus",
    ),
    "fr": (
        "treize", "quatorze", "quinze", "seize", "vingt", "trente", "quarante", "cinquante",
        "soixante", "cent", "tiret", "point", "arobase",
    ),
}  # fmt: skip
# A number announced but not given yet ("my number is", "c'est le"), at the end of a turn.
LEAD_INS: Mapping[str, tuple[str, ...]] = {
    "en": ("number is", "number's", "phone is", "is", "it's"),
    "fr": ("c'est le", "c'est", "numéro", "numéro est", "est le"),
}
# Listener noises, not a turn.
BACKCHANNELS: Mapping[str, tuple[str, ...]] = {
    "en": (
        "mhm", "mm", "mmh", "mm-hmm", "hmm", "uh-huh", "uh huh", "ok", "okay", "yeah", "yep",
        "yes", "right", "sure", "i see", "alright", "all right", "uh", "um",
    ),
    "fr": (
        "oui", "ouais", "d'accord", "daccord", "ok d'accord", "voilà", "hum", "euh", "ah",
        "ah oui", "oui oui", "je vois", "bien sûr", "entendu",
    ),
}  # fmt: skip
# The months in order, each with its spoken forms (folded).
MONTHS: Mapping[str, tuple[tuple[str, ...], ...]] = {
    "en": (
        ("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"),
        ("may",), ("june", "jun"), ("july", "jul"), ("august", "aug"),
        ("september", "sep", "sept"), ("october", "oct"), ("november", "nov"),
        ("december", "dec"),
    ),
    "fr": (
        ("janvier",), ("fevrier",), ("mars",), ("avril",), ("mai",), ("juin",), ("juillet",),
        ("aout",), ("septembre",), ("octobre",), ("novembre",), ("decembre",),
    ),
}  # fmt: skip
# The days of the week from Monday (folded).
WEEKDAYS: Mapping[str, tuple[str, ...]] = {
    "en": ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"),
    "fr": ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"),
}
# Words that say nothing specific: a value made only of them ("car accident") invents nothing.
STOPWORDS: Mapping[str, tuple[str, ...]] = {
    "en": tuple(
        "the and for with from that this was were his her their they them you your our she"
        " him its has had have are but not all any can did does one two very into onto over"
        " near about then than there here when what who where which while just also been"
        " being some caller customer car vehicle accident claim incident".split()
    ),
    "fr": tuple("les des une est dans pour avec sur".split()),
}


def every(table: Mapping[str, Iterable[str]]) -> frozenset[str]:
    """The words of a table in all its languages."""
    return frozenset(word for words in table.values() for word in words)


def by_position(table: Mapping[str, tuple[tuple[str, ...], ...]]) -> dict[str, int]:
    """Each spoken form of a table of ordered groups (months) to its 1-based position."""
    return {
        word: n
        for groups in table.values()
        for n, group in enumerate(groups, start=1)
        for word in group
    }
