"""CallCapture (notes -> archive operations) and CallRecorder (the async part: writer and WAV file)."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from bridge.archive.records import (
    AddEvents,
    AddToolCalls,
    AddTranscriptSegments,
    CallEvent,
    CreateCall,
    FinishCall,
    ToolCall,
    TranscriptSegment,
    UpdateCall,
    WriteOp,
)
from bridge.archive.writer import ArchiveWriter
from bridge.audio.g711 import ulaw_to_pcm16
from bridge.audio.wav import read_wav
from bridge.call.actions import Note
from bridge.call.config import CallConfig
from bridge.call.recorder import CallCapture, CallEnd, CallProfile, CallRecorder
from bridge.call.transcript import Transcript
from bridge.realtime.session import SessionSettings
from bridge.telephony.events import (
    AudioReceived,
    CallStarted,
    ClearPlayback,
    DtmfReceived,
    MarkPlayed,
    PlayAudio,
    SetMark,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
CONFIG = CallConfig(session=SessionSettings(model="gpt-realtime", voice="marin"), dialplan="support")
PROFILE = CallProfile(dialplan="support", model="gpt-realtime", voice="marin", audio_mode="passthrough")


@dataclass
class FakeSession:
    """What the recorder reads of a session: its transcript and (once ``start`` came) its configuration."""

    config: CallConfig = CONFIG
    transcript: Transcript = field(default_factory=Transcript)


START = CallStarted(call_id="CA1", stream_id="MZ1", account_id="AC1", from_number="+1555", to_number="+1666")
MS = 8


def frame(n: int) -> bytes:
    """Caller frame ``n``: 20 ms of a value that tells frames apart (never mu-law silence)."""
    return bytes([n % 200 + 1]) * 160


def kinds(ops: Sequence[WriteOp]) -> list[str]:
    return [type(op).__name__ for op in ops]


# -- CallCapture ---------------------------------------------------------------------------------


def test_nothing_is_written_before_the_start_and_the_call_is_created_first() -> None:
    capture = CallCapture("c1", T0)
    capture.note(Note("session", 5, {"event": "upstream_opened", "n": 1}))
    capture.recording("/rec/c1.wav")
    assert capture.operations() == []
    capture.start(START, PROFILE)
    ops = capture.operations()
    assert ops == [
        CreateCall(
            id="c1",
            started_at=T0,
            call_sid="CA1",
            stream_sid="MZ1",
            from_number="+1555",
            to_number="+1666",
            dialplan="support",
            model="gpt-realtime",
            voice="marin",
            audio_mode="passthrough",
        ),
        UpdateCall("c1", {"recording_path": "/rec/c1.wav"}),
        AddEvents("c1", [CallEvent(0, 5, "session", {"event": "upstream_opened", "n": 1})]),
    ]
    assert capture.operations() == []


def test_the_call_is_answered_when_its_first_session_is_ready() -> None:
    capture = CallCapture("c1", T0)
    capture.start(START, PROFILE)
    capture.operations()
    capture.note(Note("session", 250, {"event": "ready", "n": 1}))
    capture.note(Note("session", 9000, {"event": "ready", "n": 2}))  # a renewal is no new answer
    ops = capture.operations()
    assert ops[0] == UpdateCall("c1", {"answered_at": T0 + timedelta(milliseconds=250)})
    assert kinds(ops) == ["UpdateCall", "AddEvents"]


def test_events_keep_the_notes_order_across_batches() -> None:
    capture = CallCapture("c1", T0)
    capture.start(START, PROFILE)
    capture.note(Note("turn", 100, {"event": "speech_started"}))
    capture.note(Note("turn", 900, {"event": "speech_stopped", "audio_end_ms": 880}))
    first = capture.operations()
    capture.note(Note("latency", 1300, {"ms": 400.0}))
    second = capture.operations()
    assert kinds(first) == ["CreateCall", "AddEvents"]
    assert isinstance(first[1], AddEvents) and isinstance(second[0], AddEvents)
    assert [(e.seq, e.at_ms, e.kind) for e in (*first[1].events, *second[0].events)] == [
        (0, 100, "turn"),
        (1, 900, "turn"),
        (2, 1300, "latency"),
    ]


def test_caller_segments_span_their_turn_and_agent_segments_their_playout() -> None:
    transcript = Transcript()
    capture = CallCapture("c1", T0, transcript)
    capture.start(START, PROFILE)
    capture.operations()
    capture.note(Note("turn", 1000, {"event": "speech_started"}))
    capture.note(Note("turn", 2500, {"event": "speech_stopped", "audio_end_ms": 2400}))
    capture.agent_audio(8000, 2600.0)  # 1 s of reply, sent at once at 2.6 s: heard until 3.6 s
    transcript.segment("caller", "item_u1", 2700).text = "Opening hours?"  # as the session does
    capture.note(Note("transcript", 2700, {"speaker": "caller", "item_id": "item_u1", "text": "Opening hours?"}))
    transcript.segment("agent", "item_a1", 2600).text = "Nine to five."
    capture.note(Note("transcript", 2800, {"speaker": "agent", "item_id": "item_a1", "cut": False}))
    transcript.segment("caller", "item_u2", 4000).text = "Thanks"
    capture.note(Note("transcript", 4000, {"speaker": "caller", "item_id": "item_u2", "text": "Thanks"}))
    capture.note(Note("transcript", 4100, {"speaker": "agent", "item_id": "item_unknown"}))
    ops = capture.operations()
    segments = next(op for op in ops if isinstance(op, AddTranscriptSegments)).segments
    assert list(segments) == [
        TranscriptSegment(0, "caller", 1000, 2500, "Opening hours?", item_id="item_u1"),
        TranscriptSegment(1, "agent", 2600, 3600, "Nine to five.", item_id="item_a1"),
        # No turn left to match: the segment sits at its own moment.
        TranscriptSegment(2, "caller", 4000, 4000, "Thanks", item_id="item_u2"),
    ]


SAID = "Your order left our warehouse on Monday."


def cut(transcript: Transcript, item_id: str, heard_ms: int, heard_text: str) -> None:
    """What the session does to an agent segment when barge-in cuts it."""
    seg = transcript.get(item_id)
    assert seg is not None
    seg.cut, seg.end_ms, seg.heard_text = True, seg.start_ms + heard_ms, heard_text


def test_a_reply_cut_before_it_was_complete_is_written_cut() -> None:
    transcript = Transcript()
    capture = CallCapture("c1", T0, transcript)
    capture.start(START, PROFILE)
    transcript.segment("agent", "item_a1", 1000).text = SAID
    capture.agent_audio(40000, 1000.0)  # 5 s of reply
    capture.note(Note("turn", 2200, {"event": "speech_started"}))
    capture.agent_clear(2210.0)
    cut(transcript, "item_a1", 1200, "Your order")
    capture.note(Note("barge_in", 2210, {"truncated": [{"item_id": "item_a1", "audio_end_ms": 1200}]}))
    capture.note(Note("transcript", 2300, {"speaker": "agent", "item_id": "item_a1", "cut": True}))
    ops = capture.operations()
    (segments,) = [op.segments for op in ops if isinstance(op, AddTranscriptSegments)]
    assert list(segments) == [
        TranscriptSegment(0, "agent", 1000, 2200, SAID, heard_text="Your order", cut=True, item_id="item_a1")
    ]


def test_a_reply_complete_before_it_was_cut_is_written_again_cut() -> None:
    transcript = Transcript()
    capture = CallCapture("c1", T0, transcript)
    capture.start(START, PROFILE)
    transcript.segment("agent", "item_a1", 1000).text = SAID
    capture.agent_audio(40000, 1000.0)
    capture.note(Note("transcript", 1100, {"speaker": "agent", "item_id": "item_a1", "cut": False}))
    (first,) = [op.segments for op in capture.operations() if isinstance(op, AddTranscriptSegments)]
    assert list(first) == [TranscriptSegment(0, "agent", 1000, 6000, SAID, item_id="item_a1")]
    capture.agent_clear(2210.0)
    cut(transcript, "item_a1", 1200, "Your order")
    capture.note(Note("barge_in", 2210, {"truncated": [{"item_id": "item_a1", "audio_end_ms": 1200}]}))
    (again,) = [op.segments for op in capture.operations() if isinstance(op, AddTranscriptSegments)]
    # The same seq: the store replaces the first version.
    assert list(again) == [
        TranscriptSegment(0, "agent", 1000, 2200, SAID, heard_text="Your order", cut=True, item_id="item_a1")
    ]


def test_tool_call_notes_become_tool_calls_and_stay_on_the_timeline() -> None:
    capture = CallCapture("c1", T0)
    capture.start(START, PROFILE)
    base = {"output": '{"status": "shipped"}', "status": "ok", "started_at_ms": 1500.4, "duration_ms": 12.6}
    capture.note(
        Note("tool_call", 1520, dict(base, call_id="call_1", name="lookup", arguments='{"id": "A-1"}', source="model"))
    )
    capture.note(Note("tool_call", 1530, dict(base, call_id="call_2", name="x", arguments="{nope", status="timeout")))
    capture.note(Note("tool_call", 1540, dict(base, call_id="call_3", name="y", arguments="[1]", status="weird")))
    capture.note(Note("tool_call", 1550, {"event": "transfer_cancelled", "to": "+1777"}))
    ops = capture.operations()
    (tools,) = [op.tool_calls for op in ops if isinstance(op, AddToolCalls)]
    assert list(tools) == [
        ToolCall("call_1", "lookup", {"id": "A-1"}, "ok", 1500, 13, '{"status": "shipped"}'),
        ToolCall("call_2", "x", {"_raw": "{nope"}, "timeout", 1500, 13, '{"status": "shipped"}'),
        ToolCall("call_3", "y", {"_raw": "[1]"}, "error", 1500, 13, '{"status": "shipped"}'),
    ]
    (events,) = [op.events for op in ops if isinstance(op, AddEvents)]
    assert [e.kind for e in events] == ["tool_call"] * 4


def test_finish_writes_the_rest_then_the_totals_and_nothing_after() -> None:
    capture = CallCapture("c1", T0)
    capture.start(START, PROFILE)
    capture.recording("/rec/c1.wav")
    capture.operations()
    capture.note(Note("end", 61000, {"reason": "caller_hangup"}))
    usage = {"input_tokens": 10, "output_tokens": 20, "total_tokens": 30}
    capture.finish(CallEnd("caller_hangup", usage, barge_ins=2, upstream_errors=1), 61234.5, recording_bytes=1044)
    capture.note(Note("error", 61300, {"source": "late"}))
    ops = capture.operations()
    assert kinds(ops) == ["AddEvents", "FinishCall"]
    assert ops[-1] == FinishCall(
        "c1",
        T0 + timedelta(milliseconds=61234.5),
        "caller_hangup",
        {
            "input_tokens": 10,
            "output_tokens": 20,
            "total_tokens": 30,
            "barge_ins": 2,
            "upstream_errors": 1,
            "recording_bytes": 1044,
        },
    )
    capture.finish(CallEnd("again"), 70000.0)
    assert capture.operations() == []


def test_a_call_that_never_started_is_still_archived_at_its_end() -> None:
    capture = CallCapture("c1", T0)
    capture.note(Note("end", 300, {"reason": "media_lost"}))
    capture.finish(CallEnd("media_lost"), 300.0)
    ops = capture.operations()
    assert kinds(ops) == ["CreateCall", "AddEvents", "FinishCall"]
    assert ops[0] == CreateCall(id="c1", started_at=T0)  # no start: nothing known but the time


def test_a_recording_known_only_after_the_end_is_recorded_with_its_size() -> None:
    capture = CallCapture("c1", T0)
    capture.start(START, PROFILE)
    capture.finish(CallEnd("caller_hangup"), 100.0, recording_bytes=3244)
    assert "recording_bytes" not in next(op for op in capture.operations() if isinstance(op, FinishCall)).fields
    capture.recording("/rec/c1.wav")
    assert capture.operations() == [UpdateCall("c1", {"recording_path": "/rec/c1.wav", "recording_bytes": 3244})]


def test_the_profile_comes_from_the_call_config() -> None:
    config = CallConfig(session=SessionSettings(model="m", voice="cedar", audio_mode="pcm16"), dialplan="sales")
    assert CallProfile.from_config(config) == CallProfile("sales", "m", "cedar", "pcm16")


# -- CallRecorder --------------------------------------------------------------------------------


class CollectingSink:
    def __init__(self) -> None:
        self.ops: list[WriteOp] = []

    async def apply(self, ops: Sequence[WriteOp]) -> None:
        self.ops.extend(ops)


@pytest.fixture
async def sink() -> AsyncIterator[CollectingSink]:
    yield CollectingSink()


@pytest.fixture
async def writer(sink: CollectingSink) -> AsyncIterator[ArchiveWriter]:
    writer = ArchiveWriter(sink)
    writer.start()
    yield writer
    await writer.close()


def wav_channels(path: Path) -> tuple[bytes, bytes]:
    wav = read_wav(path)
    assert (wav.rate, wav.channels) == (8000, 2)
    frames = np.frombuffer(wav.pcm, dtype="<i2").reshape(-1, 2)
    return frames[:, 0].tobytes(), frames[:, 1].tobytes()


def pcm(ulaw: bytes) -> bytes:
    return ulaw_to_pcm16(ulaw)


async def test_a_recorded_call_is_archived_and_its_wav_is_valid_after_every_block(
    tmp_path: Path, writer: ArchiveWriter, sink: CollectingSink
) -> None:
    recorder = CallRecorder(writer, recordings_dir=tmp_path / "rec", started_at=T0)
    recorder.start(FakeSession())
    recorder.call_started(START, 10.0)
    await recorder.idle()
    assert recorder.path == (tmp_path / "rec" / f"{recorder.call_id}.wav").absolute()
    assert wav_channels(recorder.path) == (b"", b"")  # a valid, empty WAV from the start
    reply = bytes([0x22]) * 4000  # 500 ms, sent at 1 s
    sizes = []
    for n in range(150):  # 3 s of caller frames, stamped by the stream clock
        at = 30.0 + 20 * n
        recorder.caller_audio(frame(n), at, stream_ms=20 * n)
        if n == 49:
            recorder.agent_audio(reply, at)
        await recorder.idle()
        sizes.append(len(wav_channels(recorder.path)[0]) // 2)  # complete WAV whenever looked at
    # A block per second of call time, each readable as soon as it is written.
    assert sorted(set(sizes)) == [0, 1010 * MS, 2010 * MS, 3010 * MS]  # due at the frame of 1010 ms
    recorder.observe(Note("end", 3020, {"reason": "caller_hangup"}))
    await recorder.finish(CallEnd("caller_hangup", {"total_tokens": 7}, barge_ins=0), 3025.0)
    await writer.flush()

    left, right = wav_channels(recorder.path)
    assert len(left) == len(right) == 2 * 3025 * MS
    caller = b"".join(frame(n) for n in range(150))
    assert left == pcm(bytes([0xFF]) * 10 * MS + caller + bytes([0xFF]) * 15 * MS)  # frame 0 ended at 30 ms
    assert right == pcm(bytes([0xFF]) * 1010 * MS + reply + bytes([0xFF]) * 1515 * MS)

    assert kinds(sink.ops) == ["CreateCall", "UpdateCall", "AddEvents", "FinishCall"]
    assert sink.ops[1] == UpdateCall(recorder.call_id, {"recording_path": str(recorder.path)})
    finish = sink.ops[-1]
    assert isinstance(finish, FinishCall) and finish.end_reason == "caller_hangup"
    assert finish.ended_at == T0 + timedelta(milliseconds=3025)
    assert finish.fields["recording_bytes"] == recorder.path.stat().st_size
    assert finish.fields["total_tokens"] == 7


class CancellingQueue:
    """Collects operations; the ``FinishCall`` cancels whoever submits it, as a shutdown would at that point."""

    def __init__(self) -> None:
        self.ops: list[WriteOp] = []

    def submit(self, op: WriteOp) -> bool:
        self.ops.append(op)
        if isinstance(op, FinishCall):
            task = asyncio.current_task()
            assert task is not None
            task.cancel()
        return True


async def test_a_cancelled_finish_still_closes_the_wav_with_every_sample(tmp_path: Path) -> None:
    queue = CancellingQueue()
    recorder = CallRecorder(queue, recordings_dir=tmp_path, started_at=T0)
    recorder.start(FakeSession())
    recorder.call_started(START, 5.0)
    for n in range(100):
        recorder.caller_audio(frame(n), 25.0 + 20 * n, stream_ms=20 * n)
    await recorder.idle()
    for n in range(100, 160):  # the block due at 3005 ms is still being written when the call ends
        recorder.caller_audio(frame(n), 25.0 + 20 * n, stream_ms=20 * n)
    with pytest.raises(asyncio.CancelledError):
        await asyncio.create_task(recorder.finish(CallEnd("shutdown"), 3225.0))
    await recorder.wait_closed()
    left, _ = wav_channels(recorder.path or Path())
    assert left == pcm(bytes([0xFF]) * 5 * MS + b"".join(frame(n) for n in range(160)) + bytes([0xFF]) * 20 * MS)
    # Everything was handed over before the first await.
    assert kinds(queue.ops)[-1] == "FinishCall"


async def test_without_recording_only_the_record_is_written(
    tmp_path: Path, writer: ArchiveWriter, sink: CollectingSink
) -> None:
    recorder = CallRecorder(writer, recordings_dir=tmp_path)
    recorder.start(FakeSession(config=CallConfig(record=False)))
    recorder.call_started(START, 5.0)
    for n in range(60):
        recorder.caller_audio(frame(n), 25.0 + 20 * n, stream_ms=20 * n)
    recorder.agent_audio(b"\x22" * 800, 100.0)
    await recorder.finish(CallEnd("caller_hangup"), 1300.0)
    await writer.flush()
    assert recorder.path is None
    assert os.listdir(tmp_path) == []
    assert kinds(sink.ops) == ["CreateCall", "FinishCall"]
    finish = sink.ops[-1]
    assert isinstance(finish, FinishCall) and "recording_bytes" not in finish.fields


async def test_a_recording_that_cannot_be_opened_is_logged_and_the_call_still_archived(
    tmp_path: Path, writer: ArchiveWriter, sink: CollectingSink, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_bytes(b"")
    recorder = CallRecorder(writer, recordings_dir=blocker, started_at=T0)
    with caplog.at_level(logging.ERROR, logger="bridge.call.recorder"):
        recorder.start(FakeSession())
        recorder.call_started(START, 5.0)
        await recorder.idle()
        for n in range(60):
            recorder.caller_audio(frame(n), 25.0 + 20 * n, stream_ms=20 * n)
        await recorder.finish(CallEnd("caller_hangup"), 1300.0)
    await writer.flush()
    assert "cannot record to" in caplog.text
    assert kinds(sink.ops) == ["CreateCall", "FinishCall"]
    finish = sink.ops[-1]
    assert isinstance(finish, FinishCall) and "recording_bytes" not in finish.fields


async def test_a_failed_write_stops_the_recording_without_holding_the_audio_in_memory(
    tmp_path: Path,
    writer: ArchiveWriter,
    sink: CollectingSink,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def disk_full(wav: object, caller: bytes, agent: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("bridge.call.recorder.append_wav", disk_full)  # fault injection
    recorder = CallRecorder(writer, recordings_dir=tmp_path, started_at=T0)
    with caplog.at_level(logging.ERROR, logger="bridge.call.recorder"):
        recorder.start(FakeSession())
        recorder.call_started(START, 5.0)
        await recorder.idle()
        for n in range(60 * 50):  # a minute of caller frames after the first block failed
            recorder.caller_audio(frame(n), 25.0 + 20 * n, stream_ms=20 * n)
            recorder.agent_audio(b"\x22" * 160, 25.0 + 20 * n)
            await recorder.idle()
        recording = recorder._recording
        assert recording is not None and recording.buffered < 2 * 2 * 1000 * MS  # about a second, not a minute
        await recorder.finish(CallEnd("caller_hangup"), 60_030.0)
    await writer.flush()
    assert "writing the recording" in caplog.text and "No space left on device" in caplog.text
    finish = sink.ops[-1]
    assert isinstance(finish, FinishCall) and "recording_bytes" not in finish.fields
    assert read_wav(recorder.path or Path()).channels == 2  # what reached the disk is still a valid WAV


async def test_the_runner_hands_over_events_and_commands_as_they_are(
    tmp_path: Path, writer: ArchiveWriter, sink: CollectingSink
) -> None:
    recorder = CallRecorder(writer, recordings_dir=tmp_path, started_at=T0)
    recorder.start(FakeSession())
    recorder.receive_telephony(START, 5.0)
    recorder.receive_telephony(AudioReceived(frame(0), 0), 25.0)
    recorder.sent_to_caller(PlayAudio(b"\x22" * 160), 25.0)
    recorder.sent_to_caller(SetMark("item_a1@160#1"), 25.0)
    recorder.receive_telephony(DtmfReceived("5"), 30.0)
    recorder.sent_to_caller(ClearPlayback(), 35.0)  # 10 ms of the 20 were heard
    recorder.receive_telephony(MarkPlayed("item_a1@160#1"), 36.0)
    recorder.receive_telephony(AudioReceived(frame(1), 20), 45.0)
    await recorder.finish(CallEnd("caller_hangup"), 45.0)
    await writer.flush()
    assert wav_channels(recorder.path or Path()) == (
        pcm(bytes([0xFF]) * 5 * MS + frame(0) + frame(1)),
        pcm(bytes([0xFF]) * 25 * MS + b"\x22" * 10 * MS + bytes([0xFF]) * 10 * MS),
    )
    created = sink.ops[0]
    assert isinstance(created, CreateCall) and (created.call_sid, created.stream_sid) == ("CA1", "MZ1")
