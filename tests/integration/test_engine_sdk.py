"""The official OpenAI SDK's own realtime client completes a VAD turn against the engine."""

from __future__ import annotations

import asyncio
import base64

from openai import AsyncOpenAI

from bridge.engine.formats import PCMU
from tests.integration.engine_support import running_engine, silence, speech


async def test_the_openai_sdk_completes_a_vad_turn() -> None:
    async with running_engine() as server:
        # The SDK turns base_url's scheme into ws and appends /realtime (resources/realtime/realtime.py).
        client = AsyncOpenAI(api_key="x", base_url=server.http_url + "/v1")
        async with client.realtime.connect(model="gpt-realtime") as connection:
            created = await connection.recv()
            assert created.type == "session.created"
            await connection.session.update(
                session={
                    "type": "realtime",
                    "output_modalities": ["audio"],
                    "audio": {
                        "input": {
                            "format": {"type": "audio/pcmu"},
                            "turn_detection": {"type": "server_vad", "silence_duration_ms": 300},
                        },
                        "output": {"format": {"type": "audio/pcmu"}, "voice": "marin"},
                    },
                }
            )
            updated = await connection.recv()
            assert updated.type == "session.updated"
            audio = silence(200, PCMU) + speech("Can you hear me?", PCMU) + silence(600, PCMU)
            for start in range(0, len(audio), 160):
                await connection.input_audio_buffer.append(audio=base64.b64encode(audio[start : start + 160]).decode())
            kinds = []
            async with asyncio.timeout(5):
                async for event in connection:
                    kinds.append(event.type)
                    if event.type == "response.done":
                        assert event.response.status == "completed"
                        break
        await client.close()
    assert kinds[:3] == [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
    ]
    assert "response.output_audio.delta" in kinds and kinds[-1] == "response.done"
    assert server.sessions[-1].log.received("session.update")[0]["session"]["audio"]["output"]["voice"] == "marin"
