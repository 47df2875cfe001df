"""Settings: YAML + environment, secrets hidden, invalid configuration fails at start."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from core.settings import Settings


def test_yaml_then_environment_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "llm:\n  fast:\n    model: gpt-4.1-nano\n    api_key: from-yaml\n"
        "store:\n  kind: sqlite\n  sqlite_path: /tmp/x.sqlite3\n"
    )
    monkeypatch.setenv("CALLCENTER_CONFIG", str(config))
    monkeypatch.setenv("CALLCENTER_LLM__FAST__ENDPOINT", "https://example.openai.azure.com")
    settings = Settings()
    assert settings.llm.fast.model == "gpt-4.1-nano"
    assert settings.llm.fast.endpoint == "https://example.openai.azure.com"
    assert settings.llm.fast.api_key.get_secret_value() == "from-yaml"
    assert "from-yaml" not in repr(settings)


def test_invalid_configuration_fails_fast(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLCENTER_STORE__KIND", "cosmos")
    with pytest.raises(ValidationError, match="store.cosmos is not set"):
        Settings()
    monkeypatch.delenv("CALLCENTER_STORE__KIND")
    with pytest.raises(ValidationError, match="needs api.keys"):
        Settings(api={"host": "0.0.0.0"})
    with pytest.raises(ValidationError, match="Extra inputs"):
        Settings(unknown_section={})
    monkeypatch.setenv("CALLCENTER_CONFIG", str(tmp_path / "missing.yaml"))
    with pytest.raises(FileNotFoundError):
        Settings()


def test_short_api_keys_and_acs_without_an_event_grid_secret_are_refused() -> None:
    with pytest.raises(ValidationError, match=r"api.keys\[1\] is shorter than 24 characters"):
        Settings(api={"keys": ["k" * 24, "s3cret"]})
    assert len(Settings(api={"keys": ["k" * 24]}).api.keys) == 1
    acs = {
        "endpoint": "http://127.0.0.1:9",
        "access_key": "a2V5",
        "phone_number": "+14255550100",
        "resource_id": "resource",
    }
    # Without the secret a made-up SMSReceived would make the bot text any number.
    with pytest.raises(ValidationError, match="event_grid_secret is not set"):
        Settings(telephony={"kind": "acs", "acs": acs})
    with_secret = Settings(telephony={"kind": "acs", "acs": {**acs, "event_grid_secret": "eg"}})
    assert with_secret.telephony.acs is not None
