"""Input audio transcription: the PocketSphinx recognizer, and the events over real sockets."""

from __future__ import annotations

from pathlib import Path

from bridge.engine.formats import PCMU
from tests.integration.engine_support import connect, ga_session, running_engine, silence, speech, wav_audio

EXPECTED = {"what", "are", "your", "opening", "hours", "on", "saturday"}
VAD = {"type": "server_vad", "silence_duration_ms": 400}


async def test_transcription_completes_after_the_turn(shared_audio: Path) -> None:
    audio = silence(500, PCMU) + wav_audio(shared_audio / "caller-opening-hours.wav", PCMU) + silence(800, PCMU)
    async with running_engine() as server, connect(server) as client:
        await client.update(ga_session(PCMU, turn_detection=VAD, transcription={"model": "gpt-4o-transcribe"}))
        await client.append(audio, PCMU)
        events = await client.until("conversation.item.input_audio_transcription.completed")
        completed = events[-1]
        user_id = next(e for e in events if e["type"] == "input_audio_buffer.committed")["item_id"]
        assert (completed["item_id"], completed["content_index"]) == (user_id, 0)
        assert len(set(completed["transcript"].split()) & EXPECTED) >= 2, completed["transcript"]
        usage = completed["usage"]
        assert usage["type"] == "tokens" and usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
        await client.send({"type": "conversation.item.retrieve", "item_id": user_id})
        item = (await client.until("conversation.item.retrieved"))[-1]["item"]
        assert item["content"][0]["transcript"] == completed["transcript"]
        assert item["content"][0]["audio"]


def fake_recognizer(pcm16: bytes, rate: int) -> str:
    return f"{len(pcm16) // 2 * 1000 // rate} ms at {rate} Hz"


def broken_recognizer(pcm16: bytes, rate: int) -> str:
    raise RuntimeError("no model")


async def test_transcription_events_in_both_dialects() -> None:
    turn = silence(200, PCMU) + speech("Hello there", PCMU) + silence(600, PCMU)
    async with running_engine(recognizer=fake_recognizer) as server:
        async with connect(server) as client:
            await client.update(ga_session(PCMU, turn_detection=VAD, transcription={"model": "whisper-1"}))
            await client.append(turn, PCMU)
            completed = (await client.until("conversation.item.input_audio_transcription.completed"))[-1]
            assert completed["transcript"].endswith("ms at 8000 Hz")
            assert completed["usage"]["type"] == "duration" and completed["usage"]["seconds"] > 0
        async with connect(server, model="gpt-4o-realtime-preview", beta=True) as client:
            await client.update(
                {"input_audio_format": "g711_ulaw", "input_audio_transcription": {"model": "gpt-4o-transcribe"}}
            )
            await client.append(turn, PCMU)
            completed = (await client.until("conversation.item.input_audio_transcription.completed"))[-1]
            assert completed["transcript"].endswith("ms at 8000 Hz")


async def test_a_failing_recognizer_reports_failed() -> None:
    async with running_engine(recognizer=broken_recognizer) as server, connect(server) as client:
        await client.update(ga_session(PCMU, turn_detection=None, transcription={"model": "gpt-4o-transcribe"}))
        await client.append(speech("Hello there", PCMU), PCMU)
        await client.send({"type": "input_audio_buffer.commit"})
        failed = (await client.until("conversation.item.input_audio_transcription.failed"))[-1]
        committed = next(e for e in client.received if e["type"] == "input_audio_buffer.committed")
        assert failed["item_id"] == committed["item_id"]
        assert failed["error"] == {"type": "transcription_error", "code": None, "message": "no model", "param": None}
