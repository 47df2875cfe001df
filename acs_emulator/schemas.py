"""Request bodies of the REST subset, with the generated SDK models' JSON names."""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from acs_emulator.errors import bad_request


class Body(BaseModel):
    # Unknown fields are ignored, as the service does for newer SDKs' additions.
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class PhoneNumber(Body):
    value: str


class CommunicationUser(Body):
    id: str


class Identifier(Body):
    kind: str | None = None
    raw_id: str | None = None
    phone_number: PhoneNumber | None = None
    communication_user: CommunicationUser | None = None

    def key(self) -> str:
        """The raw id, derived from the typed part when rawId is missing."""
        if self.phone_number is not None:
            return f"4:{self.phone_number.value}"
        if self.raw_id:
            return self.raw_id
        if self.communication_user is not None:
            return self.communication_user.id
        raise ValueError("identifier has neither rawId nor a typed part")

    def phone(self) -> str | None:
        """The E.164 number of a phone identifier, else None."""
        if self.phone_number is not None:
            return self.phone_number.value
        if self.raw_id and self.raw_id.startswith("4:"):
            return self.raw_id[2:]
        return None


class MediaStreamingOptions(Body):
    transport_type: str
    audio_channel_type: str
    transport_url: str | None = None
    content_type: str | None = None
    start_media_streaming: bool = False
    enable_bidirectional: bool = False
    audio_format: Literal["pcm16KMono", "pcm24KMono"] | None = None
    enable_dtmf_tones: bool | None = None

    @field_validator("transport_type")
    @classmethod
    def _websocket_only(cls, value: str) -> str:
        if value.lower() != "websocket":
            raise ValueError("only transportType 'websocket' is supported")
        return value


class CreateCall(Body):
    targets: list[Identifier] = Field(min_length=1)
    callback_uri: str
    source_caller_id_number: PhoneNumber | None = None
    source_display_name: str | None = None
    operation_context: str | None = None
    media_streaming_options: MediaStreamingOptions | None = None


class AnswerCall(Body):
    incoming_call_context: str
    callback_uri: str
    operation_context: str | None = None
    media_streaming_options: MediaStreamingOptions | None = None


class RejectCall(Body):
    incoming_call_context: str
    call_reject_reason: str | None = None


class RedirectCall(Body):
    incoming_call_context: str
    target: Identifier


class TextSource(Body):
    text: str
    voice_name: str | None = None
    source_locale: str | None = None


class SsmlSource(Body):
    ssml_text: str


class FileSource(Body):
    uri: str


class PlaySource(Body):
    kind: Literal["text", "ssml", "file"]
    text: TextSource | None = None
    ssml: SsmlSource | None = None
    file: FileSource | None = None
    play_source_cache_id: str | None = None


class PlayOptions(Body):
    loop: bool = False


class Play(Body):
    play_sources: list[PlaySource] = Field(min_length=1)
    play_to: list[Identifier] = Field(default_factory=list)
    interrupt_call_media_operation: bool = False
    play_options: PlayOptions | None = None
    operation_context: str | None = None
    operation_callback_uri: str | None = None


class Choice(Body):
    label: str
    phrases: list[str]
    tone: str | None = None


class DtmfOptions(Body):
    inter_tone_timeout_in_seconds: float | None = None
    max_tones_to_collect: int | None = None
    stop_tones: list[str] | None = None


class SpeechOptions(Body):
    end_silence_timeout_in_ms: float | None = None


class RecognizeOptions(Body):
    target_participant: Identifier
    interrupt_prompt: bool = False
    initial_silence_timeout_in_seconds: float | None = None
    speech_language: str | None = None
    dtmf_options: DtmfOptions | None = None
    choices: list[Choice] | None = None
    speech_options: SpeechOptions | None = None


class Recognize(Body):
    recognize_input_type: Literal["dtmf", "speech", "speechOrDtmf", "choices"]
    recognize_options: RecognizeOptions
    play_prompt: PlaySource | None = None
    play_prompts: list[PlaySource] | None = None
    interrupt_call_media_operation: bool = False
    operation_context: str | None = None
    operation_callback_uri: str | None = None


class TransferToParticipant(Body):
    target_participant: Identifier
    operation_context: str | None = None
    operation_callback_uri: str | None = None
    transferee: Identifier | None = None


class AddParticipant(Body):
    participant_to_add: Identifier
    source_caller_id_number: PhoneNumber | None = None
    source_display_name: str | None = None
    invitation_timeout_in_seconds: int | None = Field(default=None, ge=0, le=180)
    operation_context: str | None = None
    operation_callback_uri: str | None = None


class RemoveParticipant(Body):
    participant_to_remove: Identifier
    operation_context: str | None = None
    operation_callback_uri: str | None = None


class CancelAddParticipant(Body):
    invitation_id: str
    operation_context: str | None = None
    operation_callback_uri: str | None = None


class Hold(Body):
    target_participant: Identifier
    play_source_info: PlaySource | None = None
    operation_context: str | None = None
    operation_callback_uri: str | None = None


class Unhold(Body):
    target_participant: Identifier
    operation_context: str | None = None
    operation_callback_uri: str | None = None


class MediaStreamingRequest(Body):
    operation_context: str | None = None
    operation_callback_uri: str | None = None


class CallLocator(Body):
    kind: str | None = None
    server_call_id: str | None = None
    group_call_id: str | None = None
    room_id: str | None = None


class StartRecording(Body):
    call_locator: CallLocator | None = None
    call_connection_id: str | None = None
    recording_state_callback_uri: str | None = None
    pause_on_start: bool | None = None


M = TypeVar("M", bound=Body)


def parse(model: type[M], raw: bytes) -> M:
    """Validate a JSON body; a 400 AcsError says what is wrong."""
    if not raw.strip():
        raise bad_request("The request body is empty.")
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}"
            for err in exc.errors()
        )
        raise bad_request(problems) from exc


def dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(by_alias=True, exclude_none=True)
