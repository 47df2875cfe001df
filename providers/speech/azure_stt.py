"""Azure Speech speech-to-text: whole utterances, or live streams with partial results.

The Speech SDK runs its own threads and calls back on them. Here its events are copied into
plain ``RecognitionEvent`` values on the SDK thread, handed to the event loop with
``call_soon_threadsafe``, and folded into a transcript by ``RecognitionState`` (pure, tested
without the service). The SDK cannot run offline: only its failure to connect is testable.

This module also holds what ``azure_tts`` shares: ``SpeechError``, ``SpeechAccount`` and the
background release of SDK objects.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

from providers.speech.base import Transcript

log = logging.getLogger(__name__)
T = TypeVar("T")

SAMPLE_RATE = 16000
# No word fits in a shorter clip: answer empty without a round trip.
_MIN_SECONDS = 0.1
# Cancellation codes worth retrying (or falling back to another engine for this turn).
_TRANSIENT = frozenset(
    {"ConnectionFailure", "ServiceTimeout", "ServiceUnavailable", "TooManyRequests", "Timeout"}
)
# Freeing a recognizer blocks for up to 1 s, and 10 s against a service that stopped
# answering (measured with SDK 1.53): it is done on these threads, never on the event loop.
_RELEASER = ThreadPoolExecutor(max_workers=2, thread_name_prefix="azure-speech-release")


class SpeechError(RuntimeError):
    """A cloud speech request failed; ``code`` is the SDK's ``CancellationErrorCode`` name."""

    def __init__(self, message: str, *, code: str = "", details: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.details = details

    @property
    def retryable(self) -> bool:
        """True for network, timeout and throttling failures; False for key or request errors."""
        return self.code in _TRANSIENT


def load_sdk() -> Any:
    """The Speech SDK module; importing it loads its native library, which may fail."""
    try:
        # The Speech SDK ships no type information: it stays behind the wrappers here.
        import azure.cognitiveservices.speech as speechsdk  # type: ignore[import-untyped]
    except (ImportError, OSError) as exc:
        raise SpeechError(
            f"the Azure Speech SDK cannot load: {exc}", code="SdkUnavailable"
        ) from exc
    return speechsdk


@contextmanager
def sdk_errors(action: str) -> Iterator[None]:
    """Raise the SDK's own failures (plain ``RuntimeError``) as ``SpeechError``."""
    try:
        yield
    except SpeechError:
        raise
    except RuntimeError as exc:
        raise SpeechError(f"Azure speech {action} failed: {exc}", code="SdkError") from exc


@dataclass(frozen=True)
class SpeechAccount:
    """Where and how to reach the Speech service: a key with a region or an endpoint.

    ``endpoint`` is a ``ws(s)://host[:port]`` (the SDK adds its own paths: a private or test
    host), or any URL with a path or an ``https`` resource endpoint (used as given).
    """

    key: str
    region: str | None = None
    endpoint: str | None = None

    def __post_init__(self) -> None:
        if not self.key:
            raise ValueError("an Azure Speech key is required")
        if (self.region is None) == (self.endpoint is None):
            raise ValueError("give exactly one of region and endpoint")
        if self.endpoint is not None:
            scheme = urlsplit(self.endpoint).scheme
            if scheme not in {"ws", "wss", "http", "https"}:
                raise ValueError(f"endpoint must be a ws, wss, http or https URL: {self.endpoint}")

    def config(self) -> Any:
        """A fresh ``SpeechConfig`` (each recognizer or synthesizer gets its own)."""
        sdk = load_sdk()
        if self.region is not None:
            return sdk.SpeechConfig(subscription=self.key, region=self.region)
        assert self.endpoint is not None
        url = urlsplit(self.endpoint)
        if url.scheme in {"ws", "wss"} and url.path in {"", "/"} and not url.query:
            return sdk.SpeechConfig(subscription=self.key, host=self.endpoint.rstrip("/"))
        return sdk.SpeechConfig(subscription=self.key, endpoint=self.endpoint)


def release_later(held: list[Any], *, stop: Callable[[], None] | None = None) -> None:
    """Run ``stop`` then drop the SDK objects in ``held`` on a background thread.

    ``held`` must hold the last references, so the SDK's blocking destructors run there.
    """

    def release() -> None:
        try:
            if stop is not None:
                stop()
        except Exception:  # the service may already be gone; the objects go all the same
            log.debug("azure speech stop failed", exc_info=True)
        finally:
            held.clear()

    try:
        _RELEASER.submit(release)
    except RuntimeError:  # interpreter shutting down: free them here
        held.clear()


def post_to_loop(
    loop: asyncio.AbstractEventLoop, handler: Callable[[T], None]
) -> Callable[[T], None]:
    """An SDK callback that hands ``handler(value)`` to ``loop``; it never raises on the SDK
    thread (an exception there would be lost or abort the native caller)."""

    def post(value: T) -> None:
        try:
            loop.call_soon_threadsafe(handler, value)
        except RuntimeError:  # the loop is closed: nobody waits for this event any more
            pass

    return post


def sdk_callback(make: Callable[[Any], T], deliver: Callable[[T], None]) -> Callable[[Any], None]:
    """Wrap ``deliver(make(evt))`` as an SDK callback that logs instead of raising."""

    def callback(evt: Any) -> None:
        try:
            deliver(make(evt))
        except Exception:
            log.exception("azure speech event handler failed")

    return callback


# --- Recognition events and their meaning (pure) -----------------------------------------


@dataclass(frozen=True)
class RecognitionEvent:
    """One SDK recognition event, copied off the SDK thread.

    ``reason`` is a ``ResultReason`` name, ``cancel_reason`` a ``CancellationReason`` name
    and ``error_code`` a ``CancellationErrorCode`` name.
    """

    kind: Literal["recognizing", "recognized", "canceled", "stopped"]
    reason: str = ""
    text: str = ""
    confidence: float | None = None
    cancel_reason: str = ""
    error_code: str = ""
    error_details: str = ""


def confidence_from_json(raw: str | None) -> float | None:
    """The best hypothesis's confidence in a detailed recognition result, if any."""
    if not raw:
        return None
    try:
        value = json.loads(raw)["NBest"][0]["Confidence"]
        return min(1.0, max(0.0, float(value)))
    except (ValueError, KeyError, IndexError, TypeError):
        return None


class RecognitionState:
    """Folds recognition events into partial texts and one final transcript."""

    def __init__(self) -> None:
        self.segments: list[tuple[str, float | None]] = []
        self.hypothesis = ""
        self.error: SpeechError | None = None
        self.done = False

    @property
    def text(self) -> str:
        """Everything recognized so far, with the current hypothesis at the end."""
        parts = [text for text, _ in self.segments]
        if self.hypothesis:
            parts.append(self.hypothesis)
        return " ".join(parts)

    def apply(self, event: RecognitionEvent) -> str | None:
        """Take one event; returns the new partial text when it changed, else None."""
        if self.done:
            return None
        if event.kind == "recognizing":
            hypothesis = event.text.strip()
            if not hypothesis or hypothesis == self.hypothesis:
                return None
            self.hypothesis = hypothesis
            return self.text
        if event.kind == "recognized":
            self.hypothesis = ""
            text = event.text.strip()
            # NoMatch: audio without words (noise, a cough); it adds nothing.
            if event.reason == "RecognizedSpeech" and text:
                self.segments.append((text, event.confidence))
            return None
        if event.kind == "canceled" and event.cancel_reason == "Error":
            self.error = SpeechError(
                f"Azure speech recognition failed: {event.error_code}: {event.error_details}",
                code=event.error_code,
                details=event.error_details,
            )
        # EndOfStream and CancelledByUser end a recognition normally, like a stopped session.
        self.done = True
        return None

    def transcript(self, language: str, duration_s: float) -> Transcript:
        """The final transcript; raises the recognition's ``SpeechError`` if it failed."""
        if self.error is not None:
            raise self.error
        text = " ".join(text for text, _ in self.segments)
        scored = [(len(t.split()), c) for t, c in self.segments if c is not None]
        words = sum(n for n, _ in scored)
        # Word-weighted, as the local engine weighs by token.
        confidence = sum(n * c for n, c in scored) / words if words else None
        return Transcript(
            text=text, language=language, duration_s=duration_s, confidence=confidence
        )


def _result_event(kind: Literal["recognizing", "recognized"], result: Any) -> RecognitionEvent:
    confidence = None
    if kind == "recognized":
        confidence = confidence_from_json(result.json)
    return RecognitionEvent(
        kind=kind,
        reason=str(result.reason.name),
        text=str(result.text or ""),
        confidence=confidence,
    )


def _canceled_event(evt: Any) -> RecognitionEvent:
    details = evt.cancellation_details
    return RecognitionEvent(
        kind="canceled",
        cancel_reason=str(details.reason.name),
        error_code=str(details.code.name),
        error_details=str(details.error_details or ""),
    )


# --- SDK wrapper ---------------------------------------------------------------------------


class _SdkRecognition:
    """One SDK recognizer reading a push stream, in continuous mode from creation on."""

    def __init__(
        self, config: Any, sample_rate: int, deliver: Callable[[RecognitionEvent], None]
    ) -> None:
        sdk = load_sdk()
        fmt = sdk.audio.AudioStreamFormat(
            samples_per_second=sample_rate, bits_per_sample=16, channels=1
        )
        stream = sdk.audio.PushAudioInputStream(stream_format=fmt)
        recognizer = sdk.SpeechRecognizer(
            speech_config=config, audio_config=sdk.audio.AudioConfig(stream=stream)
        )
        # The callbacks reach only ``deliver``, never this object: no reference cycle, so the
        # SDK objects are freed where ``close`` sends them, not by a collector on the loop.
        recognizer.recognizing.connect(
            sdk_callback(lambda evt: _result_event("recognizing", evt.result), deliver)
        )
        recognizer.recognized.connect(
            sdk_callback(lambda evt: _result_event("recognized", evt.result), deliver)
        )
        recognizer.canceled.connect(sdk_callback(_canceled_event, deliver))
        recognizer.session_stopped.connect(
            sdk_callback(lambda _evt: RecognitionEvent(kind="stopped"), deliver)
        )
        # Not awaited: starting only queues work on the SDK's threads.
        started = recognizer.start_continuous_recognition_async()
        self._held: list[Any] = [recognizer, stream, started]

    def write(self, pcm: bytes) -> None:
        """Append audio; the SDK copies it into its own buffer."""
        if self._held:
            self._held[1].write(pcm)

    def end_input(self) -> None:
        """No more audio: the service finishes the last phrase and the session ends."""
        if self._held:
            self._held[1].close()

    def close(self, *, stop: bool) -> None:
        """Free the SDK objects in the background; ``stop`` first ends a live recognition.

        Ending the input, not ``stop_continuous_recognition``: that waits 10 s for the
        service to confirm whenever the connection is not up yet.
        """
        if not self._held:
            return
        held, self._held = self._held, []

        def halt() -> None:
            recognizer, stream, started = held
            started.get()
            if stop:
                stream.close()
            for signal in (
                recognizer.recognizing,
                recognizer.recognized,
                recognizer.canceled,
                recognizer.session_stopped,
            ):
                signal.disconnect_all()

        release_later(held, stop=halt)

    def __del__(self) -> None:
        # Abandoned without close: still keep the blocking destructors off this thread.
        if getattr(self, "_held", None):
            self.close(stop=True)


# --- Public API ----------------------------------------------------------------------------


class _Inbox:
    """What the SDK callbacks reach on the loop: the state, the partials and the end."""

    def __init__(self) -> None:
        self.state = RecognitionState()
        self.partials: asyncio.Queue[str | None] = asyncio.Queue()
        self.finished = asyncio.Event()

    def on_event(self, event: RecognitionEvent) -> None:
        partial = self.state.apply(event)
        if partial is not None:
            self.partials.put_nowait(partial)
        if self.state.done and not self.finished.is_set():
            self.finish()

    def finish(self) -> None:
        self.finished.set()
        self.partials.put_nowait(None)


class AzureSttStream:
    """Live recognition of one turn in one language: push audio, read partials, then final.

    Made by ``AzureStt.stream``. ``partials()`` has one reader; ``final()`` ends the input
    and waits for the last words. Use it as an async context manager or call ``close()``
    (barge-in, hang-up) to stop the recognition early.
    """

    def __init__(
        self, account: SpeechAccount, language: str, *, sample_rate: int, timeout_s: float
    ) -> None:
        self.language = language
        self.sample_rate = sample_rate
        self._timeout_s = timeout_s
        self._bytes = 0
        self._ended = False
        self._inbox = _Inbox()
        deliver = post_to_loop(asyncio.get_running_loop(), self._inbox.on_event)
        with sdk_errors("recognition"):
            config = account.config()
            config.speech_recognition_language = language
            sdk = load_sdk()
            # Detailed results carry a confidence; raw profanity keeps what the caller said.
            config.output_format = sdk.OutputFormat.Detailed
            config.set_profanity(sdk.ProfanityOption.Raw)
            self._sdk = _SdkRecognition(config, sample_rate, deliver)

    @property
    def duration_s(self) -> float:
        """Audio pushed so far, in seconds."""
        return self._bytes / 2 / self.sample_rate

    def push(self, pcm: bytes) -> None:
        """Send PCM16LE mono audio at ``sample_rate``; raises if the recognition failed."""
        if self._inbox.state.error is not None:
            raise self._inbox.state.error
        if self._ended:
            raise RuntimeError("push after final() or close()")
        self._bytes += len(pcm)
        with sdk_errors("recognition"):
            self._sdk.write(pcm)

    async def partials(self) -> AsyncIterator[str]:
        """Partial texts (all words so far) while the caller speaks; ends with the stream."""
        while (text := await self._inbox.partials.get()) is not None:
            yield text

    async def final(self) -> Transcript:
        """End the input and return the whole transcript; ``SpeechError`` if it failed.

        Waits at most ``timeout_s`` plus the audio's duration: the SDK may send buffered
        audio no faster than real time.
        """
        if not self._ended:
            self._ended = True
            with sdk_errors("recognition"):
                self._sdk.end_input()
        limit = self._timeout_s + self.duration_s
        try:
            await asyncio.wait_for(self._inbox.finished.wait(), limit)
        except TimeoutError:
            self.close()
            raise SpeechError(
                f"no final result from Azure speech recognition within {limit:.1f} s",
                code="Timeout",
            ) from None
        self._sdk.close(stop=False)
        return self._inbox.state.transcript(self.language, self.duration_s)

    def close(self) -> None:
        """Stop recognizing now (no transcript); the SDK objects are freed in the background."""
        self._ended = True
        self._sdk.close(stop=not self._inbox.state.done)
        if not self._inbox.finished.is_set():
            self._inbox.finish()

    async def __aenter__(self) -> AzureSttStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()


class AzureStt:
    """``SpeechToText`` with the Azure Speech service; one recognizer per utterance or stream.

    A recognizer per stream keeps the language per stream and lets calls run in parallel; it
    costs one connection set-up per utterance.
    """

    def __init__(
        self,
        key: str,
        region: str | None = None,
        *,
        endpoint: str | None = None,
        sample_rate: int = SAMPLE_RATE,
        timeout_s: float = 10.0,
    ) -> None:
        """``timeout_s`` bounds the wait for the final result once the audio has ended (plus
        the audio's duration, see ``AzureSttStream.final``)."""
        if sample_rate not in {8000, 16000}:
            raise ValueError("Azure speech recognition takes 8 or 16 kHz PCM")
        self._account = SpeechAccount(key, region, endpoint)
        self.sample_rate = sample_rate
        self._timeout_s = timeout_s
        load_sdk()  # fail at start-up, not on the first caller

    def stream(self, language: str) -> AzureSttStream:
        """Start live recognition in ``language`` ("fr-FR"); call from the event loop."""
        return AzureSttStream(
            self._account, language, sample_rate=self.sample_rate, timeout_s=self._timeout_s
        )

    async def transcribe(self, pcm: bytes, *, language: str) -> Transcript:
        """Transcribe one utterance (PCM16LE mono at ``sample_rate``) in ``language``."""
        if len(pcm) % 2:
            raise ValueError("PCM16 data must have an even number of bytes")
        duration = len(pcm) / 2 / self.sample_rate
        if duration < _MIN_SECONDS:
            return Transcript(text="", language=language, duration_s=duration)
        async with self.stream(language) as stream:
            stream.push(pcm)
            return await stream.final()
