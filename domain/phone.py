"""Phone numbers: E.164 normalisation and the caller's timezone from the number's country."""

from __future__ import annotations

import phonenumbers
from phonenumbers import timezone as phone_timezone

DEFAULT_TIMEZONE = "UTC"


class InvalidPhoneNumber(ValueError):
    """Raised when a string is not a valid international phone number."""


def to_e164(raw: str) -> str:
    """Return `raw` as an E.164 number (`+33612345678`) or raise `InvalidPhoneNumber`.

    Numbers must carry their country code: a phone agent calls across borders, so a national
    number without a prefix is ambiguous and is rejected rather than guessed.
    """
    text = raw.strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    if not text.startswith("+"):
        raise InvalidPhoneNumber(f"{raw!r} must start with + and the country code (E.164)")
    try:
        parsed = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(f"{raw!r} is not a phone number: {exc}") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhoneNumber(f"{raw!r} is not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def timezone_for(e164: str) -> str:
    """IANA timezone of the number's region (the first one when a country has several)."""
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return DEFAULT_TIMEZONE
    zones = phone_timezone.time_zones_for_number(parsed)
    for zone in zones:
        if zone != "Etc/Unknown":
            return str(zone)
    return DEFAULT_TIMEZONE


def mask(e164: str) -> str:
    """Shorten a number for display in summaries (`+1555…4567`)."""
    return e164 if len(e164) <= 8 else f"{e164[:5]}…{e164[-4:]}"
