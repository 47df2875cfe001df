"""Claim validation: each type, field by field, nothing stored lost."""

from __future__ import annotations

import pytest

from domain.call import CallInitiate
from domain.claim import (
    ClaimField,
    ClaimFieldType,
    FieldUpdate,
    apply_updates,
    full_schema,
    validate_value,
)
from domain.phone import InvalidPhoneNumber, timezone_for, to_e164

TEXT = ClaimField(name="notes", type=ClaimFieldType.TEXT)
WHEN = ClaimField(name="when", type=ClaimFieldType.DATETIME)
MAIL = ClaimField(name="mail", type=ClaimFieldType.EMAIL)
PHONE = ClaimField(name="phone", type=ClaimFieldType.PHONE_NUMBER)


@pytest.mark.parametrize(
    ("field", "raw", "expected"),
    [
        (TEXT, "  rear   bumper\n dented ", "rear bumper dented"),
        (WHEN, "2026-11-25 08:30", "2026-11-25T08:30:00+01:00"),
        (WHEN, "2026-07-14T21:00", "2026-07-14T21:00:00+02:00"),  # summer time in Paris
        (WHEN, "2026-11-25T08:30:00Z", "2026-11-25T08:30:00+00:00"),
        (WHEN, "2026-11-25", "2026-11-25T00:00:00+01:00"),
        (MAIL, "Jean.Dupont@EXAMPLE.com", "Jean.Dupont@example.com"),
        (PHONE, "+33 6 12 34 56 78", "+33612345678"),
        (PHONE, "0033612345678", "+33612345678"),
    ],
)
def test_valid_values_are_normalised(field: ClaimField, raw: str, expected: str) -> None:
    assert validate_value(field, raw, "Europe/Paris") == expected


@pytest.mark.parametrize(
    ("field", "raw", "reason"),
    [
        (TEXT, "   ", "empty"),
        (TEXT, "x" * 2_001, "longer than"),
        (WHEN, "yesterday evening", "not a date"),
        (MAIL, "jean.dupont@", "not a valid email"),
        (MAIL, "jean dupont at example", "not a valid email"),
        (PHONE, "0612345678", "E.164"),
        (PHONE, "+33 1", "too short"),
        (PHONE, "+33 1 23", "not a valid phone number"),
        (TEXT, None, "required"),
    ],
)
def test_invalid_values_give_a_reason(field: ClaimField, raw: str | None, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        validate_value(field, raw, "Europe/Paris")


def test_updates_are_applied_field_by_field_and_keep_stored_values() -> None:
    schema = [TEXT, MAIL]
    claim: dict[str, str | None] = {"mail": "old@example.com"}
    results = apply_updates(
        claim,
        schema,
        [
            FieldUpdate(field="notes", value="ok"),
            FieldUpdate(field="mail", value="broken@"),
            FieldUpdate(field="colour", value="red"),
        ],
        "UTC",
    )
    assert [r.ok for r in results] == [True, False, False]
    assert claim == {"notes": "ok", "mail": "old@example.com"}
    assert results[1].line().startswith('Rejected "mail"')
    assert "valid fields are notes, mail" in results[2].line()


def test_policyholder_fields_are_always_present() -> None:
    names = [f.name for f in full_schema([TEXT])]
    assert names == ["notes", "policyholder_email", "policyholder_name", "policyholder_phone"]
    # A configured field with the same name wins.
    custom = ClaimField(name="policyholder_name", type=ClaimFieldType.TEXT, description="Nom")
    schema = full_schema([custom])
    assert [f.description for f in schema if f.name == "policyholder_name"] == ["Nom"]


def test_phone_numbers_and_timezones() -> None:
    assert to_e164("+1 (415) 555-0123") == "+14155550123"
    with pytest.raises(InvalidPhoneNumber):
        to_e164("hello")
    assert timezone_for("+33612345678") == "Europe/Paris"
    assert timezone_for("+81312345678") == "Asia/Tokyo"
    assert timezone_for("+999") == "UTC"


def test_call_initiate_rejects_duplicate_claim_fields_and_unknown_default_lang() -> None:
    base = {
        "phone_number": "+33612345678",
        "bot_company": "Contoso",
        "bot_name": "Amélie",
        "agent_phone_number": "+33612345679",
    }
    with pytest.raises(ValueError, match="duplicate claim field names: a"):
        CallInitiate.model_validate(
            {**base, "claim": [{"name": "a", "type": "text"}, {"name": "a", "type": "email"}]}
        )
    with pytest.raises(ValueError, match="default_short_code must be one of"):
        CallInitiate.model_validate({**base, "lang": {"default_short_code": "de-DE"}})
