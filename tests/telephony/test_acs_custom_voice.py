"""A language's own custom voice in what ACS plays (the ACS SDK against a local ACS service)."""

from __future__ import annotations

from domain.contracts import PlayInput, PromptPart, RecognizeChoice, RecognizeInput
from providers.telephony.acs import AcsTelephony
from tests.telephony.test_acs_adapter import CONNECTION, CUSTOMER, FakeAcs
from tests.telephony.test_acs_adapter import acs as acs  # noqa: F401 - the fixtures
from tests.telephony.test_acs_adapter import line as line  # noqa: F401

ENDPOINT_ID = "9f50c644-2121-40e9-9ea7-544e48bfe3cb"


async def test_play_and_menu_use_the_languages_custom_voice(
    acs: FakeAcs, line: AcsTelephony
) -> None:
    await line.play(
        PlayInput(
            call_id="call-1",
            connection_id=CONNECTION,
            text="Au revoir !",
            voice="ContosoFrNeural",
            lang="fr-FR",
            operation_context="goodbye",
            custom_voice_endpoint_id=ENDPOINT_ID,
        )
    )
    assert acs.last("play").body["playSources"] == [
        {
            "kind": "text",
            "text": {
                "text": "Au revoir !",
                "voiceName": "ContosoFrNeural",
                "sourceLocale": "fr-FR",
                "customVoiceEndpointId": ENDPOINT_ID,
            },
        }
    ]
    await line.recognize(
        RecognizeInput(
            call_id="call-1",
            connection_id=CONNECTION,
            target=CUSTOMER,
            prompt="Pour le français, tapez 1.",
            voice="ContosoFrNeural",
            lang="fr-FR",
            custom_voice_endpoint_id=ENDPOINT_ID,
            choices=[RecognizeChoice(label="fr-FR", phrases=["français"], tone="one")],
            operation_context="ivr_lang_select",
        )
    )
    prompt = acs.last("recognize").body["playPrompt"]["text"]
    assert prompt["voiceName"] == "ContosoFrNeural"
    assert prompt["customVoiceEndpointId"] == ENDPOINT_ID


async def test_menu_entries_play_in_their_own_voices(acs: FakeAcs, line: AcsTelephony) -> None:
    await line.recognize(
        RecognizeInput(
            call_id="call-1",
            connection_id=CONNECTION,
            target=CUSTOMER,
            prompt="For English, press 1. Pour le français, tapez 2.",
            voice="en-US-AvaMultilingualNeural",
            lang="en-US",
            prompts=[
                PromptPart(
                    text="For English, press 1.", voice="en-US-AvaMultilingualNeural", lang="en-US"
                ),
                PromptPart(
                    text="Pour le français, tapez 2.",
                    voice="ContosoFrNeural",
                    lang="fr-FR",
                    custom_voice_endpoint_id=ENDPOINT_ID,
                ),
            ],
            choices=[
                RecognizeChoice(label="en-US", phrases=["english"], tone="one"),
                RecognizeChoice(label="fr-FR", phrases=["français"], tone="two"),
            ],
            operation_context="ivr_lang_select",
        )
    )
    body = acs.last("recognize").body
    assert "playPrompt" not in body
    assert body["playPrompts"] == [
        {
            "kind": "text",
            "text": {
                "text": "For English, press 1.",
                "voiceName": "en-US-AvaMultilingualNeural",
                "sourceLocale": "en-US",
            },
        },
        {
            "kind": "text",
            "text": {
                "text": "Pour le français, tapez 2.",
                "voiceName": "ContosoFrNeural",
                "sourceLocale": "fr-FR",
                "customVoiceEndpointId": ENDPOINT_ID,
            },
        },
    ]
