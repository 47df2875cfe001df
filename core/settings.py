"""One settings object for every process: a YAML file plus `CALLCENTER_*` environment overrides.

The file is `$CALLCENTER_CONFIG` or `./config.yaml` when present. Nested keys use `__` in the
environment (`CALLCENTER_LLM__FAST__MODEL=gpt-4.1-nano`). Invalid configuration fails at start.
"""

from __future__ import annotations

import logging
import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from domain.attributes import phone_key
from domain.call import DEFAULT_TASK, LanguageConfig
from domain.calling_hours import CallingWindow
from domain.claim import DEFAULT_CLAIM, ClaimField
from domain.phrases import PhraseOverrides, missing_languages
from domain.prices import PriceTable
from domain.prompt_templates import PromptOverrides
from domain.reminder_retry import ReminderRetryRules
from domain.transfer import DEFAULT_TRANSFER_MODE, TransferMode
from domain.webhooks import RETRY_DELAYS_SEC, check_endpoint_url, check_secret

log = logging.getLogger(__name__)


class LlmModelSettings(BaseModel):
    """One chat model behind an OpenAI-compatible API (OpenAI, Azure OpenAI, llama.cpp...)."""

    kind: Literal["openai", "azure"] = "openai"
    endpoint: str = "http://127.0.0.1:8765/v1"
    model: str = "scripted"
    api_key: SecretStr = SecretStr("local")
    api_version: str = "2024-10-21"  # Azure only
    context_tokens: int = Field(default=128_000, ge=1_024)
    max_tokens: int = Field(default=160, ge=16, le=4_096)
    temperature: float = Field(default=0.0, ge=0, le=2)
    seed: int | None = 42
    request_timeout_sec: float = Field(default=30.0, gt=0)


class LlmSettings(BaseModel):
    fast: LlmModelSettings = Field(default_factory=LlmModelSettings)
    slow: LlmModelSettings = Field(default_factory=LlmModelSettings)
    history_messages: int = Field(default=20, ge=2, le=200)
    attempts_per_model: int = Field(default=3, ge=1, le=10)
    # "full": the reference's prompts and tool schemas (hosted models). "small": a short prompt
    # with tools described in text, for a local model of about a billion parameters.
    profile: Literal["small", "full"] = "full"
    # Deterministic checks around the model (`domain/guardrails.py`): claim values must come
    # from what the caller said, transfers and hang-ups from what they asked, the bot asks for
    # one field at a time and stores an obvious answer itself. Off only to measure the model.
    guardrails: bool = True


# Public keys of the offline default (they are in this file, so they protect nothing): they let
# `make dev` and the tests run encrypted with no configuration. Production sets its own
# (`environment: prod` refuses these); see docs/deploy.md, "Key management".
DEV_CODEC_KEY = "callcenter-dev-payload-key-public-set-your-own-in-production"
DEV_PHONE_HASH_KEY = "callcenter-dev-phone-hash-key-public-set-your-own-in-production"
DEV_CALL_SECRET_KEY = "callcenter-dev-call-secret-key-public-set-your-own-in-production"
MIN_KEY_BYTES = 32
MIN_API_KEY_CHARS = 24


def _long_enough(name: str, secret: SecretStr) -> None:
    if len(secret.get_secret_value().encode()) < MIN_KEY_BYTES:
        raise ValueError(f"{name} is shorter than {MIN_KEY_BYTES} bytes")


class CodecSettings(BaseModel):
    """Encryption of every payload Temporal stores (AES-256-GCM, `core/codec.py`).

    `keys` maps a key id to a secret of at least 32 bytes; `current_key` encrypts, every key
    decrypts (rotation: add the new key, make it current, keep the old one until no history
    needs it). `phone_hash_key` keys the `CallPhoneNumber` search attribute's hash; it never
    rotates with the payload keys, or searches for older calls would stop matching.
    """

    keys: dict[str, SecretStr] = Field(default_factory=lambda: {"dev": SecretStr(DEV_CODEC_KEY)})
    current_key: str = "dev"
    phone_hash_key: SecretStr = SecretStr(DEV_PHONE_HASH_KEY)

    @model_validator(mode="after")
    def _usable_keys(self) -> CodecSettings:
        if self.current_key not in self.keys:
            raise ValueError(f"temporal.codec.current_key {self.current_key!r} is not in keys")
        for key_id, secret in self.keys.items():
            if not key_id or len(key_id) > 64 or not key_id.isascii() or not key_id.isprintable():
                raise ValueError(f"temporal.codec key id {key_id!r}: 1-64 printable ASCII")
            _long_enough(f"temporal.codec.keys.{key_id}", secret)
        _long_enough("temporal.codec.phone_hash_key", self.phone_hash_key)
        return self

    def phone_key(self, e164: str) -> str:
        """The `CallPhoneNumber` search attribute of a number (what searches must match)."""
        return phone_key(e164, self.phone_hash_key.get_secret_value())

    def uses_dev_keys(self) -> bool:
        return any(s.get_secret_value() == DEV_CODEC_KEY for s in self.keys.values()) or (
            self.phone_hash_key.get_secret_value() == DEV_PHONE_HASH_KEY
        )


class TemporalSettings(BaseModel):
    address: str = "127.0.0.1:7233"
    namespace: str = "default"
    task_queue: str = "callcenter"
    ui_url: str = "http://127.0.0.1:8233"
    api_key: SecretStr | None = None
    tls: bool = False
    codec: CodecSettings = Field(default_factory=CodecSettings)

    def workflow_url(self, workflow_id: str) -> str:
        return f"{self.ui_url.rstrip('/')}/namespaces/{self.namespace}/workflows/{workflow_id}"


class RedisSettings(BaseModel):
    url: str = "redis://127.0.0.1:6379/0"
    password: SecretStr | None = None
    sentence_stream_maxlen: int = Field(default=500, ge=10)
    # The media gateway holds one connection per live call (a blocking stream read).
    max_connections: int = Field(default=2_000, ge=10)
    sentence_stream_ttl_sec: int = Field(default=6 * 3600, ge=60)


class CosmosSettings(BaseModel):
    endpoint: str
    key: SecretStr
    database: str = "callcenter"
    container: str = "calls"


class StoreSettings(BaseModel):
    kind: Literal["sqlite", "cosmos"] = "sqlite"
    sqlite_path: Path = Path("var/calls.sqlite3")
    cosmos: CosmosSettings | None = None

    @model_validator(mode="after")
    def _backend_configured(self) -> StoreSettings:
        if self.kind == "cosmos" and self.cosmos is None:
            raise ValueError("store.kind is cosmos but store.cosmos is not set")
        return self


class AzureSearchSettings(BaseModel):
    endpoint: str
    index: str
    api_key: SecretStr
    semantic_configuration: str | None = None


class SearchSettings(BaseModel):
    kind: Literal["sqlite", "azure"] = "sqlite"
    sqlite_path: Path = Path("var/search.sqlite3")
    documents_folder: Path = Path("docs/knowledge")
    top: int = Field(default=5, ge=1, le=50)
    azure: AzureSearchSettings | None = None

    @model_validator(mode="after")
    def _backend_configured(self) -> SearchSettings:
        if self.kind == "azure" and self.azure is None:
            raise ValueError("search.kind is azure but search.azure is not set")
        return self


class ApiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65_535)
    keys: list[SecretStr] = Field(default_factory=list)
    key_header: str = "X-API-Key"

    @model_validator(mode="after")
    def _keys_hard_to_guess(self) -> ApiSettings:
        # A short key falls to guessing over the network: the API compares keys, it does not
        # rate-limit attempts.
        for i, key in enumerate(self.keys):
            if len(key.get_secret_value()) < MIN_API_KEY_CHARS:
                raise ValueError(f"api.keys[{i}] is shorter than {MIN_API_KEY_CHARS} characters")
        return self

    @model_validator(mode="after")
    def _no_open_api(self) -> ApiSettings:
        # Without keys anyone who reaches the port can place calls: allow only loopback.
        if not self.keys and self.host not in {"127.0.0.1", "localhost", "::1"}:
            raise ValueError(f"api.host={self.host} needs api.keys; without keys bind to 127.0.0.1")
        return self


class AcsSettings(BaseModel):
    """Azure Communication Services Call Automation (or the local emulator)."""

    endpoint: str  # https://<resource>.communication.azure.com, or the emulator's http URL
    access_key: SecretStr
    phone_number: str  # the bot's number, E.164
    resource_id: str  # audience of the callback JWTs (the ACS resource's immutable id)
    jwks_url: str = "https://acscallautomation.communication.azure.com/calling/keys"
    issuer: str = "https://acscallautomation.communication.azure.com"
    callback_leeway_sec: int = Field(default=300, ge=0, le=900)
    cognitive_services_endpoint: str | None = None
    recording_container_url: str | None = None
    event_grid_secret: SecretStr | None = None  # required as ?secret= on the Event Grid webhook


class TelephonySettings(BaseModel):
    # "none": no phone line; calls are held over the chat channel (POST /call/{id}/messages).
    # "acs": real calls through Azure Communication Services (or the local emulator).
    kind: Literal["none", "acs"] = "none"
    # Public base URL ACS posts callbacks to (https://host); media URL the gateway listens on.
    public_url: str = "http://127.0.0.1:8080"
    media_url: str = "ws://127.0.0.1:8090/media"
    audio_format: Literal["pcm16k", "pcm24k"] = "pcm16k"
    acs: AcsSettings | None = None
    # Where this host's media gateway listens (media_url is what ACS connects to).
    gateway_host: str = "127.0.0.1"
    gateway_port: int = Field(default=8090, ge=1, le=65_535)
    # Derives each call's callback secret and media token (`core/call_secrets.py`): the worker,
    # the API and the media gateway must share it. Changing it invalidates the URLs of the
    # calls in progress.
    call_secret_key: SecretStr = SecretStr(DEV_CALL_SECRET_KEY)

    @model_validator(mode="after")
    def _call_secret_key_long_enough(self) -> TelephonySettings:
        _long_enough("telephony.call_secret_key", self.call_secret_key)
        return self

    @model_validator(mode="after")
    def _backend_configured(self) -> TelephonySettings:
        if self.kind == "acs" and self.acs is None:
            raise ValueError("telephony.kind is acs but telephony.acs is not set")
        # Without it anyone can post a made-up SMSReceived or IncomingCall to the webhook, and
        # the bot texts or calls whatever number it names.
        if self.kind == "acs" and self.acs is not None and self.acs.event_grid_secret is None:
            raise ValueError("telephony.kind is acs but telephony.acs.event_grid_secret is not set")
        return self


class TwilioSettings(BaseModel):
    account_sid: str
    auth_token: SecretStr  # also verifies the signature of Twilio's webhooks
    phone_number: str
    base_url: str = "https://api.twilio.com"


class SmsSettings(BaseModel):
    # "outbox": messages are kept in a local JSON-lines outbox file instead of being sent.
    # "acs": ACS SMS with the resource of telephony.acs; "twilio": Twilio.
    kind: Literal["outbox", "acs", "twilio"] = "outbox"
    outbox_path: Path = Path("var/sms-outbox.jsonl")
    acs_phone_number: str | None = None  # the SMS-enabled number (default: telephony.acs's)
    twilio: TwilioSettings | None = None

    @model_validator(mode="after")
    def _backend_configured(self) -> SmsSettings:
        if self.kind == "twilio" and self.twilio is None:
            raise ValueError("sms.kind is twilio but sms.twilio is not set")
        return self


class ReminderSettings(BaseModel):
    """How hard a due reminder's follow-up is retried before it is marked failed."""

    max_attempts: int = Field(default=5, ge=1, le=50)
    first_retry_sec: float = Field(default=60.0, gt=0)
    max_retry_sec: float = Field(default=3_600.0, gt=0)
    # A call back nobody answered is called again per its outcome (delay and count); one
    # answered by a person completes the reminder (`domain/reminder_retry.py`).
    retry: ReminderRetryRules = Field(default_factory=ReminderRetryRules)


class CampaignSettings(BaseModel):
    """Outbound campaigns: their contacts, attempts and the do-not-call list, in SQLite."""

    # None: `campaigns.sqlite3` beside the call store's SQLite file.
    sqlite_path: Path | None = None
    # A campaign's workflow continues as new past this many events (each dial costs about a
    # dozen): its history stays bounded whatever the number of contacts.
    rotate_after_events: int = Field(default=1_000, ge=100, le=40_000)

    def path(self, store: StoreSettings) -> Path:
        return self.sqlite_path or store.sqlite_path.with_name("campaigns.sqlite3")


class AzureSpeechSettings(BaseModel):
    key: SecretStr
    region: str | None = None
    endpoint: str | None = None
    tts_sample_rate: Literal[16000, 24000] = 16000
    default_voice: str = "en-US-AvaMultilingualNeural"
    custom_voice_endpoint_id: str | None = None

    @model_validator(mode="after")
    def _one_location(self) -> AzureSpeechSettings:
        if (self.region is None) == (self.endpoint is None):
            raise ValueError("speech.azure needs exactly one of region and endpoint")
        return self


class SpeechSettings(BaseModel):
    """Speech engines of the media gateway (the VAD is always the local Silero model)."""

    # "local": Silero VAD + Whisper + Piper, models from registry packages (the offline default).
    # "azure": Azure Speech for STT and TTS.
    kind: Literal["local", "azure"] = "local"
    azure: AzureSpeechSettings | None = None
    stt_threads: int = Field(default=2, ge=1, le=32)
    # Whisper's encoder window for a caller's utterance: 10 s costs ~0.1 s of encoder on two
    # cores against ~0.7 s for Whisper's own 30 s (longer utterances always get a full one).
    stt_window_sec: float = Field(default=10.0, ge=1.0, le=30.0)
    # TTS voice per language ("fr-FR": "..."); unknown languages use the engine's default voice.
    voices: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _backend_configured(self) -> SpeechSettings:
        if self.kind == "azure" and self.azure is None:
            raise ValueError("speech.kind is azure but speech.azure is not set")
        return self


class FlagsSettings(BaseModel):
    redis_key: str = "callcenter:flags"
    cache_ttl_sec: float = Field(default=60.0, ge=0, le=60)


class ConversationSettings(BaseModel):
    """Defaults for `POST /call` fields the request leaves out."""

    bot_company: str = "Contoso"
    bot_name: str = "Amélie"
    agent_phone_number: str = "+33612345678"
    bot_phone_number: str | None = None
    # "warm": the agent hears a briefing and presses 1 before the caller is handed over;
    # "cold": ACS transfers the caller at once (`domain/transfer.py`).
    transfer_mode: TransferMode = DEFAULT_TRANSFER_MODE
    task: str = DEFAULT_TASK
    claim: list[ClaimField] = Field(default_factory=lambda: list(DEFAULT_CLAIM))
    lang: LanguageConfig = Field(default_factory=LanguageConfig)
    # Phrase overrides by language ("fr" or "fr-CA") then phrase key (`domain/phrases`), and
    # system prompt templates ("system", "chat", "small"): placeholders are checked here.
    phrases: PhraseOverrides = Field(default_factory=dict)
    prompts: PromptOverrides = Field(default_factory=dict)

    @model_validator(mode="after")
    def _warn_untranslated(self) -> ConversationSettings:
        codes = [lang.short_code for lang in self.lang.availables]
        untranslated = missing_languages(codes, self.phrases)
        if untranslated:
            log.warning(
                "no phrase table for %s: the model translates it for the first call (English "
                "phrases if that fails); conversation.phrases can give it instead",
                ", ".join(untranslated),
            )
        return self


class WebhookEndpoint(BaseModel):
    """A deployment's endpoint: every call's (and campaign's) events it asks for."""

    name: str = Field(pattern=r"^[a-z0-9_-]{1,40}$")  # names it in history (never the URL)
    url: str
    secret: SecretStr  # `whsec_` + base64 of 24-64 random bytes; one per endpoint
    events: list[str] = Field(default_factory=list)  # "call.ended", "campaign.*"; empty: all

    @model_validator(mode="after")
    def _usable(self) -> WebhookEndpoint:
        check_endpoint_url(self.url)
        check_secret(self.secret.get_secret_value())
        return self


class WebhookSettings(BaseModel):
    """Standard Webhooks to the customer's systems (`activities/webhooks.py`)."""

    endpoints: list[WebhookEndpoint] = Field(default_factory=list)
    # Signs the deliveries to a call's or campaign's own `webhook_url`; without it those are
    # not sent (the delivery fails, visibly, in the Temporal UI).
    secret: SecretStr | None = None
    # Waits after each failed attempt (the spec's example: ~3 days in all), with ±10 % jitter.
    retry_delays_sec: list[float] = Field(
        default_factory=lambda: list(RETRY_DELAYS_SEC),
        max_length=30,
    )
    timeout_sec: float = Field(default=15.0, gt=0, le=30)

    @model_validator(mode="after")
    def _usable(self) -> WebhookSettings:
        if self.secret is not None:
            check_secret(self.secret.get_secret_value())
        names = [e.name for e in self.endpoints]
        if len(set(names)) != len(names):
            raise ValueError("webhooks.endpoints names must be unique")
        if any(d < 0 for d in self.retry_delays_sec):
            raise ValueError("webhooks.retry_delays_sec must not be negative")
        return self


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CALLCENTER_", env_nested_delimiter="__", extra="forbid"
    )

    environment: Literal["dev", "test", "prod"] = "dev"
    temporal: TemporalSettings = Field(default_factory=TemporalSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    llm: LlmSettings = Field(default_factory=LlmSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    search: SearchSettings = Field(default_factory=SearchSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    telephony: TelephonySettings = Field(default_factory=TelephonySettings)
    sms: SmsSettings = Field(default_factory=SmsSettings)
    flags: FlagsSettings = Field(default_factory=FlagsSettings)
    reminders: ReminderSettings = Field(default_factory=ReminderSettings)
    campaigns: CampaignSettings = Field(default_factory=CampaignSettings)
    # When calls may be placed, in the callee's local time (their number's zone): reminders'
    # call backs and campaign calls wait for it. A campaign or a contact may give its own.
    # None: any time.
    calling_hours: CallingWindow | None = None
    speech: SpeechSettings = Field(default_factory=SpeechSettings)
    conversation: ConversationSettings = Field(default_factory=ConversationSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    # Unit prices of a call's usage (defaults dated in `domain/prices.py`).
    prices: PriceTable = Field(default_factory=PriceTable)

    @model_validator(mode="after")
    def _own_keys_in_production(self) -> Settings:
        if self.environment == "prod" and self.temporal.codec.uses_dev_keys():
            raise ValueError("environment prod needs its own temporal.codec keys, not the dev ones")
        if self.environment == "prod" and (
            self.telephony.call_secret_key.get_secret_value() == DEV_CALL_SECRET_KEY
        ):
            raise ValueError("environment prod needs its own telephony.call_secret_key")
        return self

    @model_validator(mode="after")
    def _sms_through_acs_needs_acs(self) -> Settings:
        if self.sms.kind == "acs" and self.telephony.acs is None:
            raise ValueError("sms.kind is acs but telephony.acs is not set")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,  # noqa: ARG003 (not used: YAML + env)
        file_secret_settings: PydanticBaseSettingsSource,  # noqa: ARG003
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = config_path()
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if path is not None:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=path))
        return tuple(sources)


def config_path() -> Path | None:
    """The YAML file to read, or None. A configured path that does not exist is an error."""
    configured = os.environ.get("CALLCENTER_CONFIG")
    if configured:
        path = Path(configured)
        if not path.is_file():
            raise FileNotFoundError(f"CALLCENTER_CONFIG={configured} does not exist")
        return path
    default = Path("config.yaml")
    return default if default.is_file() else None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
