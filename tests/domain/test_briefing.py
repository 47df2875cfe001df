"""The warm transfer's briefing of the agent, its apology to the caller and its call-back
reminder, in the call's language."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.briefing import (
    CALL_BACK_AFTER,
    REMINDER_TITLE,
    accept_prompt,
    briefing,
    call_back_reminder,
    transfer_apology,
)
from domain.call import Action, CallInitiate, CallState, Message, Persona

NOW = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)


def call(lang: str = "en-US", **claim: str) -> CallState:
    availables = [
        {"short_code": "en-US", "voice": "en-US-TestNeural"},
        {"short_code": "fr-FR", "voice": "fr-FR-TestNeural"},
        {"short_code": "de-DE", "voice": "de-DE-TestNeural"},
    ]
    state = CallState(
        call_id="c1",
        created_at=NOW,
        lang_short_code=lang,
        channel="phone",
        claim=dict(claim),
        initiate=CallInitiate.model_validate(
            {
                "phone_number": "+33612345678",
                "bot_company": "Contoso",
                "bot_name": "Amélie",
                "agent_phone_number": "+33612345679",
                "lang": {"default_short_code": "en-US", "availables": availables},
            }
        ),
    )
    state.messages.append(
        Message(
            created_at=NOW,
            persona=Persona.HUMAN,
            action=Action.TALK,
            content="My car was hit.   I want to talk to a real person!",
        )
    )
    return state


def test_the_briefing_says_who_transfers_why_and_the_claim_so_far() -> None:
    text = briefing(call(policyholder_name="Jane Miller", incident_location="Lyon"))
    assert text == (
        "Transfer request from the Contoso virtual assistant. The caller asked for a person, "
        'saying: "My car was hit. I want to talk to a real person!". Claim so far: '
        "Where it happened: Lyon; Full name: Jane Miller."
    )


def test_the_briefing_is_in_french_for_a_french_call() -> None:
    state = call("fr-FR", policyholder_name="Jean Dupont", policy_number="B01371946")
    text = briefing(state)
    assert text.startswith("Demande de transfert de l'assistante virtuelle de Contoso.")
    assert "Dossier à ce stade : numéro de contrat: B01371946; nom: Jean Dupont." in text
    assert accept_prompt(state) == "Tapez 1 pour prendre l'appel, ou 2 pour refuser."
    assert transfer_apology(state) == (
        "Désolée, aucun conseiller n'est disponible. Continuons ensemble. "
        "Un conseiller vous rappellera."
    )


def test_an_empty_claim_and_a_language_without_a_table() -> None:
    state = call("de-DE")
    state.messages.clear()
    text = briefing(state)  # the agent line is the company's: English
    assert text.endswith("The caller asked for a person. No claim details were collected yet.")
    assert accept_prompt(state) == "Press 1 to take the call, or 2 to decline."
    assert transfer_apology(state).endswith(
        "Machen wir gemeinsam weiter. Ein Mitarbeiter ruft Sie zurück."
    )


def test_a_long_value_is_cut_for_the_ear() -> None:
    text = briefing(call(incident_description="x " * 200))
    assert "…" in text and len(text) < 500


def test_the_reminder_asks_a_human_to_call_back() -> None:
    reminder = call_back_reminder(call(policyholder_name="Jane"), NOW, "the agent declined")
    assert reminder.title == REMINDER_TITLE and reminder.owner == "agent"
    assert reminder.due_date_time == NOW + CALL_BACK_AFTER == NOW + timedelta(hours=1)
    assert "Full name: Jane" in reminder.description
    assert reminder.description.endswith("Transfer not taken: the agent declined.")
