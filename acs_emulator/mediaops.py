"""Play and recognize: one media operation at a time per call, queued like ACS queues them."""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from acs_emulator import results
from acs_emulator.models import PlayRecord, PlaySourceRecord, RecognizeRecord, ResultInfo
from acs_emulator.recognize import collect, listened_to
from acs_emulator.schemas import PlaySource, Recognize

if TYPE_CHECKING:
    from acs_emulator.calls import Call

log = logging.getLogger(__name__)
_TAGS = re.compile(r"<[^>]*>")


@dataclass(eq=False)
class Op:
    operation_context: str | None
    callback_url: str | None
    interrupt: bool
    finished: bool = False
    task: asyncio.Task[None] | None = None


@dataclass(eq=False)
class PlayOp(Op):
    record: PlayRecord = field(kw_only=True)
    sources: list[PlaySource] = field(kw_only=True)


@dataclass(eq=False)
class RecognizeOp(Op):
    record: RecognizeRecord = field(kw_only=True)
    request: Recognize = field(kw_only=True)


def _texts(sources: list[PlaySource]) -> list[str]:
    return [
        s.text.text if s.text else s.ssml.ssml_text if s.ssml else s.file.uri if s.file else ""
        for s in sources
    ]


def _targets(op: Op) -> list[str]:
    """Raw ids of the participants an operation is aimed at only ([]: play to all)."""
    if isinstance(op, PlayOp):
        return list(op.record.play_to)
    if isinstance(op, RecognizeOp) and op.record.target is not None:
        return [op.record.target]
    return []


def source_records(sources: list[PlaySource]) -> list[PlaySourceRecord]:
    return [
        PlaySourceRecord(
            kind=s.kind,
            text=s.text.text if s.text else None,
            voice=s.text.voice_name if s.text else None,
            ssml=s.ssml.ssml_text if s.ssml else None,
            url=s.file.uri if s.file else None,
        )
        for s in sources
    ]


class MediaOps:
    """The call's media queue: plays and recognizes run one after another."""

    def __init__(self, call: Call) -> None:
        self._call = call
        self._queue: deque[Op] = deque()
        self._current: Op | None = None
        self._wake = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self.input_arrived = asyncio.Event()

    @property
    def accepting_input(self) -> bool:
        """A recognize is prompting or listening: DTMF and speech reach it."""
        op = self._current
        return isinstance(op, RecognizeOp) and not op.finished

    def play(
        self,
        sources: list[PlaySource],
        *,
        loop: bool,
        context: str | None,
        url: str | None,
        interrupt: bool,
        play_to: list[str] | None = None,
    ) -> PlayRecord:
        record = PlayRecord(
            id=str(uuid.uuid4()),
            sources=source_records(sources),
            play_to=play_to or [],
            operation_context=context,
            loop=loop,
            interrupt=interrupt,
            duration_ms=self._duration_ms(sources),
        )
        self._call.record.plays.append(record)
        self._submit(PlayOp(context, url, interrupt, record=record, sources=sources))
        return record

    def recognize(self, request: Recognize, url: str | None) -> RecognizeRecord:
        prompts = request.play_prompts or ([request.play_prompt] if request.play_prompt else [])
        options = request.recognize_options
        record = RecognizeRecord(
            id=str(uuid.uuid4()),
            input_type=request.recognize_input_type,
            target=request.recognize_options.target_participant.key(),
            operation_context=request.operation_context,
            prompt=source_records(prompts),
            choices=[c.model_dump(exclude_none=True) for c in options.choices or []],
            interrupt_prompt=options.interrupt_prompt,
        )
        self._call.record.recognizes.append(record)
        op = RecognizeOp(
            request.operation_context,
            url,
            request.interrupt_call_media_operation,
            record=record,
            request=request,
        )
        self._submit(op)
        return record

    def cancel_all(self) -> None:
        """Cancel the running and the queued operations; each gets its *Canceled event."""
        ops = [op for op in (self._current, *self._queue) if op is not None]
        self._queue.clear()
        for op in ops:
            self._cancel(op, notify=True)

    def fail_target(self, raw_id: str) -> None:
        """The participant left: what is aimed at them alone fails (PlayFailed,
        RecognizeFailed), running or queued."""
        for op in [op for op in (self._current, *self._queue) if op is not None]:
            if op.finished or _targets(op) != [raw_id]:
                continue
            if op is not self._current:
                self._queue.remove(op)
            op.finished = True
            if op.task is not None:
                op.task.cancel()
            if isinstance(op, PlayOp):
                op.record.status = "failed"
                op.record.ended_at = datetime.now(UTC)
                name = "PlayFailed"
            else:
                assert isinstance(op, RecognizeOp)
                op.record.status = "failed"
                op.record.result_information = results.PARTICIPANT_LEFT
                name = "RecognizeFailed"
            self._call.emit(
                name,
                operation_context=op.operation_context,
                result=results.PARTICIPANT_LEFT,
                url=op.callback_url,
            )
        self._call.touch()

    def stop(self) -> None:
        """The call ended: drop everything without events."""
        for op in [op for op in (self._current, *self._queue) if op is not None]:
            self._cancel(op, notify=False)
        self._queue.clear()
        if self._worker is not None:
            self._worker.cancel()

    def _submit(self, op: Op) -> None:
        if op.interrupt:
            self.cancel_all()
        self._queue.append(op)
        self._wake.set()
        if self._worker is None:
            self._worker = asyncio.create_task(self._work(), name="acs-emulator-media-ops")

    def _cancel(self, op: Op, *, notify: bool) -> None:
        if op.finished:
            return
        op.finished = True
        if isinstance(op, PlayOp):
            op.record.status = "canceled"
            op.record.ended_at = datetime.now(UTC)
        elif isinstance(op, RecognizeOp):
            op.record.status = "canceled"
        if op.task is not None:
            op.task.cancel()
        if notify:
            name = "PlayCanceled" if isinstance(op, PlayOp) else "RecognizeCanceled"
            self._call.emit(
                name,
                operation_context=op.operation_context,
                result=results.CANCELED,
                url=op.callback_url,
            )
        self._call.touch()

    async def _work(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                op = self._current = self._queue.popleft()
                if isinstance(op, PlayOp):
                    op.task = asyncio.create_task(self._play(op))
                elif isinstance(op, RecognizeOp):
                    op.task = asyncio.create_task(self._recognize(op))
                if op.task is not None:
                    await asyncio.wait({op.task})
                    if not op.task.cancelled() and op.task.exception() is not None:
                        log.error("media operation failed", exc_info=op.task.exception())
                self._current = None

    def _duration_ms(self, sources: list[PlaySource]) -> float:
        timings = self._call.timings
        total = 0.0
        for source in sources:
            if source.text is not None:
                total += len(source.text.text) * timings.play_ms_per_char
            elif source.ssml is not None:
                total += (
                    len(_TAGS.sub("", source.ssml.ssml_text).strip()) * timings.play_ms_per_char
                )
            else:
                total += timings.file_play_ms
        return max(timings.play_min_ms, total)

    def _finish(
        self, op: Op, name: str, result: ResultInfo, fields: dict[str, Any] | None = None
    ) -> None:
        op.finished = True
        self._call.emit(
            name, fields, operation_context=op.operation_context, result=result, url=op.callback_url
        )

    async def _play(self, op: PlayOp) -> None:
        record = op.record
        record.status = "playing"
        record.started_at = datetime.now(UTC)
        self._call.party.heard(record.play_to, _texts(op.sources))
        self._call.emit(
            "PlayStarted",
            operation_context=op.operation_context,
            result=results.ACTION_OK,
            url=op.callback_url,
        )
        await asyncio.sleep(record.duration_ms / 1000)
        if record.loop:  # a looped play runs until canceled
            await asyncio.Event().wait()
        record.status = "completed"
        record.ended_at = datetime.now(UTC)
        self._finish(op, "PlayCompleted", results.ACTION_OK)

    async def _recognize(self, op: RecognizeOp) -> None:
        request, record = op.request, op.record
        options = request.recognize_options
        prompts = request.play_prompts or ([request.play_prompt] if request.play_prompt else [])
        self._call.inputs_clear()
        source = listened_to(self._call, request)
        if prompts:
            record.status = "playing"
            if source is not None:
                self._call.party.heard([source], _texts(prompts))
            self._call.touch()
            prompt = asyncio.create_task(asyncio.sleep(self._duration_ms(prompts) / 1000))
            # A key press or speech cuts an interruptible prompt short.
            self.input_arrived.clear()
            arrived = asyncio.create_task(self.input_arrived.wait())
            waits = {prompt, arrived} if options.interrupt_prompt else {prompt}
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                prompt.cancel()
                arrived.cancel()
        record.status = "listening"
        if source is not None:
            self._call.party.listening(source)
        self._call.touch()
        name, result, fields = await collect(self._call, request)
        record.status = "completed" if name == "RecognizeCompleted" else "failed"
        record.result = fields or None
        record.result_information = result
        self._call.inputs_clear()
        self._finish(op, name, result, fields)
