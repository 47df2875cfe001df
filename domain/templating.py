"""Checks on text templates that users configure (phrases, prompts): pure, no I/O.

A template is a `str.format` string. Only bare placeholder names are allowed: `{x.attr}` or
`{x[0]}` would reach into the objects formatted, and a conversion or format spec has no use
in a sentence.
"""

from __future__ import annotations

from string import Formatter


class TemplateError(ValueError):
    """A template that would fail, or leak, when filled; the message names where and why."""


def placeholders(text: str) -> list[str]:
    """The placeholder names of `text`, in order; `TemplateError` if it is malformed."""
    try:
        parsed = list(Formatter().parse(text))
    except ValueError as exc:
        raise TemplateError(
            f"malformed template ({exc}); write a literal brace as {{{{ or }}}}"
        ) from None
    names = []
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise TemplateError(f"placeholder {{{name}}} must be a bare name such as {{bot_name}}")
        names.append(name)
    return names


def check_template(where: str, text: str, allowed: frozenset[str]) -> None:
    """Raise `TemplateError` naming `where` and the first placeholder `text` cannot use."""
    try:
        names = placeholders(text)
    except TemplateError as exc:
        raise TemplateError(f"{where}: {exc}") from None
    for name in names:
        if name not in allowed:
            known = ", ".join(f"{{{n}}}" for n in sorted(allowed)) or "none"
            raise TemplateError(f"{where}: unknown placeholder {{{name}}} (allowed: {known})")
