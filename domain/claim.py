"""The claim schema and per-field validation of the values the LLM proposes."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict, Field

from domain.phone import InvalidPhoneNumber, to_e164

MAX_TEXT_VALUE_CHARS = 2_000


class ClaimFieldType(StrEnum):
    """Types a claim field can have; each has its own validation."""

    TEXT = "text"
    DATETIME = "datetime"
    EMAIL = "email"
    PHONE_NUMBER = "phone_number"


class ClaimField(BaseModel):
    """One field of the claim the bot fills during the call."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    type: ClaimFieldType
    description: str | None = Field(default=None, max_length=500)


# Always present, as in the reference: the bot must know who it is talking to.
POLICYHOLDER_FIELDS: tuple[ClaimField, ...] = (
    ClaimField(name="policyholder_email", type=ClaimFieldType.EMAIL, description="Email"),
    ClaimField(name="policyholder_name", type=ClaimFieldType.TEXT, description="Full name"),
    ClaimField(
        name="policyholder_phone", type=ClaimFieldType.PHONE_NUMBER, description="Phone number"
    ),
)

DEFAULT_CLAIM: tuple[ClaimField, ...] = (
    ClaimField(
        name="incident_datetime",
        type=ClaimFieldType.DATETIME,
        description="Date and time of the incident",
    ),
    ClaimField(name="incident_description", type=ClaimFieldType.TEXT, description="What happened"),
    ClaimField(name="incident_location", type=ClaimFieldType.TEXT, description="Where it happened"),
    ClaimField(name="injuries", type=ClaimFieldType.TEXT, description="Injuries, if any"),
    ClaimField(
        name="involved_parties", type=ClaimFieldType.TEXT, description="People or vehicles involved"
    ),
    ClaimField(name="medical_records", type=ClaimFieldType.TEXT, description="Medical records"),
    ClaimField(name="policy_number", type=ClaimFieldType.TEXT, description="Insurance policy id"),
    ClaimField(name="pre_existing_damages", type=ClaimFieldType.TEXT, description="Earlier damage"),
    ClaimField(name="witnesses", type=ClaimFieldType.TEXT, description="Witnesses, if any"),
)


def full_schema(fields: list[ClaimField] | tuple[ClaimField, ...]) -> list[ClaimField]:
    """The configured fields plus the policyholder fields (configured ones win on name clash)."""
    names = {f.name for f in fields}
    return [*fields, *(f for f in POLICYHOLDER_FIELDS if f.name not in names)]


_DATETIME_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d")


def parse_datetime(raw: str, tz_name: str) -> datetime:
    """Parse an ISO-like date; a naive value is read in the caller's timezone."""
    text = raw.strip().replace("Z", "+00:00")
    value: datetime | None = None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        for fmt in _DATETIME_FORMATS:
            try:
                value = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
    if value is None:
        raise ValueError(f"{raw!r} is not a date; use YYYY-MM-DD HH:MM")
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(tz_name))
    return value


def validate_value(field: ClaimField, raw: object, tz_name: str) -> str:
    """Return the normalised value for `field` or raise `ValueError` with a reason for the LLM."""
    if raw is None:
        raise ValueError("a value is required")
    text = str(raw).strip()
    if not text:
        raise ValueError("the value is empty")
    match field.type:
        case ClaimFieldType.TEXT:
            if len(text) > MAX_TEXT_VALUE_CHARS:
                raise ValueError(f"text longer than {MAX_TEXT_VALUE_CHARS} characters")
            return re.sub(r"\s+", " ", text)
        case ClaimFieldType.DATETIME:
            return parse_datetime(text, tz_name).isoformat()
        case ClaimFieldType.EMAIL:
            try:
                return validate_email(text, check_deliverability=False).normalized
            except EmailNotValidError as exc:
                raise ValueError(f"{text!r} is not a valid email: {exc}") from exc
        case ClaimFieldType.PHONE_NUMBER:
            try:
                return to_e164(text)
            except InvalidPhoneNumber as exc:
                raise ValueError(f"{exc} (use E.164, e.g. +33612345678)") from exc
    raise ValueError(f"unknown field type {field.type}")  # pragma: no cover


class FieldUpdate(BaseModel):
    """One change the LLM asks for through `updated_claim`."""

    field: str
    value: object = None


class FieldResult(BaseModel):
    """Outcome of one `FieldUpdate`: stored, or rejected with the reason."""

    field: str
    ok: bool
    value: str | None = None
    reason: str | None = None

    def line(self) -> str:
        """One line of the tool result the LLM reads."""
        if self.ok:
            return f'Updated "{self.field}" to "{self.value}".'
        return f'Rejected "{self.field}": {self.reason}. Ask the customer again.'


def apply_updates(
    claim: dict[str, str | None],
    schema: list[ClaimField],
    updates: list[FieldUpdate],
    tz_name: str,
) -> list[FieldResult]:
    """Validate each update on its own and store the valid ones in `claim` (in place).

    A rejected field leaves its stored value untouched, so no earlier data is lost.
    """
    by_name = {f.name: f for f in schema}
    results: list[FieldResult] = []
    for update in updates:
        field = by_name.get(update.field)
        if field is None:
            reason = f"unknown field; valid fields are {', '.join(by_name)}"
            results.append(FieldResult(field=update.field, ok=False, reason=reason))
            continue
        try:
            value = validate_value(field, update.value, tz_name)
        except ValueError as exc:
            results.append(FieldResult(field=field.name, ok=False, reason=str(exc)))
            continue
        claim[field.name] = value
        results.append(FieldResult(field=field.name, ok=True, value=value))
    return results


def progress(claim: dict[str, str | None], schema: list[ClaimField]) -> tuple[int, int]:
    """(filled, total) fields, for the UI and search attributes."""
    filled = sum(1 for f in schema if claim.get(f.name))
    return filled, len(schema)
