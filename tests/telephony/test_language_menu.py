"""The language menu on a real (emulated) phone line: it offers each configured language in its
own words and voice with the digit that picks it, and that digit picks it."""

from __future__ import annotations

from providers.sentences.redis_stream import RedisSentenceStream
from tests.telephony.test_phone_calls import CUSTOMER, Phone
from tests.telephony.test_phone_calls import phone as phone  # noqa: F401 - the stack fixture

THREE_LANGUAGES = {
    "default_short_code": "en-US",
    "availables": [
        {"short_code": "de-DE", "voice": "de-DE-SeraphinaMultilingualNeural"},
        {"short_code": "en-US", "voice": "en-US-AvaMultilingualNeural"},
        {"short_code": "es-ES", "voice": "es-ES-XimenaMultilingualNeural"},
    ],
}


async def test_menu_says_the_digits_it_listens_for(phone: Phone) -> None:
    await phone.phones.configure(time_scale=1.0)  # the caller takes their time to answer
    call_id = await phone.call(lang=THREE_LANGUAGES)
    record = await phone.phones.wait_for_call(
        CUSTOMER, lambda c: bool(c.recognizes) and c.recognizes[-1].status == "listening"
    )
    menu = record.recognizes[0]
    # Each language's entry in its own words and voice, with the digit it listens for.
    assert [(p.text, p.voice) for p in menu.prompt] == [
        ("Für Deutsch drücken Sie die 1.", "de-DE-SeraphinaMultilingualNeural"),
        ("For English, press 2.", "en-US-AvaMultilingualNeural"),
        ("Para español, pulse 3.", "es-ES-XimenaMultilingualNeural"),
    ]
    assert [c["label"] for c in menu.choices] == ["de-DE", "en-US", "es-ES"]
    await phone.phones.press(record.connection_id, "3")  # as the menu said: Spanish
    await phone.phones.wait_for_call(record.connection_id, lambda c: c.media.connected)
    assert (await phone.state(call_id))["lang_short_code"] == "es-ES"
    spoken = await RedisSentenceStream(phone.redis).read(call_id)
    assert spoken[-1][1].text == "Hola, soy Amélie de Contoso. ¿En qué puedo ayudarle hoy?"
    assert spoken[-1][1].lang == "es-ES"
    await phone.phones.hang_up(record.connection_id)
    await phone.wait_status(call_id, "ended")
