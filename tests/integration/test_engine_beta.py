"""The engine over real sockets, beta dialect (``OpenAI-Beta: realtime=v1``, PROTOCOLS B)."""

from __future__ import annotations

import orjson

from bridge.engine import Call, Say, Scenario
from bridge.engine.formats import PCM, PCMA, PCMU
from tests.integration.engine_support import connect, decode_audio, running_engine, silence, speech

MODEL = "gpt-4o-realtime-preview-2024-12-17"

BETA_SESSION_KEYS = [
    "id",
    "object",
    "model",
    "expires_at",
    "modalities",
    "instructions",
    "voice",
    "turn_detection",
    "input_audio_format",
    "output_audio_format",
    "input_audio_transcription",
    "input_audio_noise_reduction",
    "tool_choice",
    "temperature",
    "max_response_output_tokens",
    "speed",
    "tracing",
    "tools",
]


async def test_beta_session_shapes() -> None:
    async with running_engine() as server, connect(server, model=MODEL, beta=True) as client:
        created, conversation = client.received
        session = created["session"]
        assert list(session) == BETA_SESSION_KEYS
        assert (session["model"], session["modalities"], session["input_audio_format"]) == (
            MODEL,
            ["text", "audio"],
            "pcm16",
        )
        assert session["turn_detection"] == {
            "type": "server_vad",
            "threshold": 0.5,
            "prefix_padding_ms": 300,
            "silence_duration_ms": 200,
            "create_response": True,
            "interrupt_response": True,
        }
        assert conversation["conversation"]["object"] == "realtime.conversation"
        assert conversation["conversation"]["id"].startswith("conv_")

        updated = await client.update({"input_audio_format": "g711_alaw", "voice": "verse", "modalities": ["text"]})
        assert (updated["session"]["input_audio_format"], updated["session"]["voice"]) == ("g711_alaw", "verse")
        assert updated["session"]["modalities"] == ["text"]
        # GA fields are unknown here, and beta refuses audio without text.
        await client.send({"type": "session.update", "session": {"type": "realtime"}})
        assert (await client.expect("error"))["error"]["param"] == "session.type"
        await client.send({"type": "session.update", "session": {"modalities": ["audio"]}})
        error = (await client.expect("error"))["error"]
        assert (
            error["message"]
            == "Invalid modalities: ['audio']. Supported combinations are: ['text'] and ['audio', 'text']."
        )
        assert server.sessions[-1].dialect == "beta"


async def test_beta_vad_turn_in_each_format() -> None:
    scenario = Scenario(fallback=("Sure.",))
    async with running_engine(scenario=scenario) as server, connect(server, model=MODEL, beta=True) as client:
        for fmt in (PCMU, PCMA, PCM):
            name = fmt.beta_name
            await client.update(
                {
                    "input_audio_format": name,
                    "output_audio_format": name,
                    "turn_detection": {"silence_duration_ms": 300},
                }
            )
            await client.append(silence(300, fmt) + speech("Hello, is anybody there?", fmt) + silence(600, fmt), fmt)
            events = await client.until("response.done")
            kinds = [
                e["type"]
                for e in events
                if e["type"] not in ("response.audio.delta", "response.audio_transcript.delta")
            ]
            assert kinds == [
                "input_audio_buffer.speech_started",
                "input_audio_buffer.speech_stopped",
                "input_audio_buffer.committed",
                "conversation.item.created",
                "response.created",
                "rate_limits.updated",
                "response.output_item.added",
                "conversation.item.created",
                "response.content_part.added",
                "response.audio.done",
                "response.audio_transcript.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.done",
            ]
            user = events[3]["item"]
            assert user["object"] == "realtime.item" and user["content"] == [
                {"type": "input_audio", "transcript": None}
            ]
            response = events[-1]["response"]
            assert response["output_audio_format"] == name and response["modalities"] == ["text", "audio"]
            assert response["output"][0]["content"] == [{"type": "audio", "transcript": "Sure."}]
            assert len(decode_audio(events, "response.audio.delta")) == len("Sure.") * 65 * fmt.bytes_per_ms
            assert all("obfuscation" not in e for e in events)


async def test_beta_function_call_and_errors() -> None:
    long = "Please hold on while I find somebody who can help you with that request. " * 3
    scenario = Scenario(
        greeting=long, turns=((Say("One moment."), Call("transfer_call", {"reason": "asked"}), Say("Done: {output}")),)
    )
    async with (
        running_engine(scenario=scenario, pace=20.0) as server,
        connect(server, model=MODEL, beta=True) as client,
    ):
        await client.send({"type": "response.create"})
        await client.until("response.audio.delta")
        await client.send({"type": "response.create"})
        error = (await client.until("error"))[-1]["error"]
        assert (error["code"], error["message"]) == (None, "Conversation already has an active response")
        await client.send({"type": "response.cancel"})
        assert (await client.until("response.done"))[-1]["response"]["status"] == "cancelled"

        item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "transfer me"}]}
        await client.send({"type": "conversation.item.create", "item": item})
        created = await client.expect("conversation.item.created")
        assert created["item"]["content"] == [{"type": "input_text", "text": "transfer me"}]
        await client.send({"type": "response.create"})
        events = await client.until("response.done")
        done = next(e for e in events if e["type"] == "response.function_call_arguments.done")
        assert "name" not in done and orjson.loads(done["arguments"]) == {"reason": "asked"}
        call = events[-1]["response"]["output"][1]
        assert call["object"] == "realtime.item" and call["name"] == "transfer_call"
        output = {"type": "function_call_output", "call_id": call["call_id"], "output": "ok"}
        await client.send({"type": "conversation.item.create", "item": output})
        assert (await client.expect("conversation.item.created"))["item"]["output"] == "ok"
        await client.send({"type": "response.create", "response": {"modalities": ["text"]}})
        events = await client.until("response.done")
        assert "".join(e["delta"] for e in events if e["type"] == "response.text.delta") == "Done: ok"
        assert events[-1]["response"]["output"][0]["content"] == [{"type": "text", "text": "Done: ok"}]
        assert server.sessions[-1].log.received("response.create")[-1]["response"] == {"modalities": ["text"]}
