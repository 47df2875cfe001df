"""Each language's words, one module per language (`en`, `fr`, `es`, `de`, `it`, `pt`, `nl`).

A module holds `WORDS`: every word list the guardrails and the gateway's turn taking read, by
key. `domain.guardrails.words` gathers them by key for the rules, so a language is added by
adding a module here and naming it in `LANGUAGES`; `tests/domain/test_turn_policy.py` checks that
it has every key the English module has.

Most entries are regular-expression fragments matched on folded text (`text.fold`: lower case,
no accents): `"(call|ring) (me|us) back"`. The keys that say otherwise (`backchannels`,
`lead_ins`: spoken forms; `name_intro`, `name_self`, `near`: the caller's words as written)
say so where the rules read them (`words.py`).
"""

from __future__ import annotations

from domain.guardrails.lang import de, en, es, fr, it, nl, pt

LANGUAGES: dict[str, dict[str, tuple[str, ...]]] = {
    "en": en.WORDS,
    "fr": fr.WORDS,
    "es": es.WORDS,
    "de": de.WORDS,
    "it": it.WORDS,
    "pt": pt.WORDS,
    "nl": nl.WORDS,
}
