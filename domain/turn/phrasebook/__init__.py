"""What the small-model policy says, one table per language (`en`, `fr`, `es`, `de`, `it`,
`pt`, `nl`).

A table maps each key (an acknowledgement, an answer, a question, how a date is said) to its
variants. Every table has every key of English, with no placeholder English lacks (checked by
`tests/domain/test_turn_policy.py`): a language is added by adding its module here and naming it
in `TABLES`. A call in a language without a table speaks English.
"""

from __future__ import annotations

from domain.turn.phrasebook import de, en, es, fr, it, nl, pt

TABLES: dict[str, dict[str, tuple[str, ...]]] = {
    "en": en.TABLE,
    "fr": fr.TABLE,
    "es": es.TABLE,
    "de": de.TABLE,
    "it": it.TABLE,
    "pt": pt.TABLE,
    "nl": nl.TABLE,
}
