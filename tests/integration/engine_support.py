"""Shared helpers for the engine's wire tests: a started engine, a plain ``websockets`` client,
test audio, and a check of every event the engine sent against the official SDK's types."""

from __future__ import annotations

import asyncio
import base64
import wave
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache
from pathlib import Path
from typing import Any, get_args

import numpy as np
import orjson
import websockets
from openai.types.beta.realtime import RealtimeServerEvent as BetaServerEvent
from openai.types.realtime import RealtimeServerEvent
from pydantic import BaseModel
from scipy.signal import resample_poly

from bridge.engine import EngineConfig, EngineServer, EngineSession, serve_engine
from bridge.engine.formats import PCM, PCMA, PCMU, AudioFormat
from bridge.engine.voice import SpeechVoice

FORMATS = {"audio/pcmu": PCMU, "audio/pcma": PCMA, "audio/pcm": PCM}
# Fields the real GA server sends that the SDK's types do not declare: the transcript delta's
# obfuscation (PROTOCOLS G.1) and the session object's id/object/expires_at (G.4; the SDK types
# session.created/updated with the request shape, which has none of them).
UNDECLARED_FIELDS = {
    ("response.output_audio_transcript.delta", "obfuscation"),
    *(
        (kind, f"session.{key}")
        for kind in ("session.created", "session.updated")
        for key in ("id", "object", "expires_at")
    ),
}
TIMEOUT = 5.0


# ---------------------------------------------------------------- SDK type check
@cache
def _models(dialect: str) -> dict[str, type[BaseModel]]:
    union = BetaServerEvent if dialect == "beta" else RealtimeServerEvent
    members = get_args(get_args(union)[0])
    return {get_args(cls.model_fields["type"].annotation)[0]: cls for cls in members}


def _undeclared(value: object, path: str) -> list[str]:
    if isinstance(value, BaseModel):
        found = [f"{path}.{key}" for key in value.model_extra or {}]
        for name in type(value).model_fields:
            found += _undeclared(getattr(value, name), f"{path}.{name}")
        return found
    if isinstance(value, list):
        return [problem for i, item in enumerate(value) for problem in _undeclared(item, f"{path}[{i}]")]
    return []


def check_sdk_types(event: dict[str, Any], dialect: str) -> None:
    """The event validates against the SDK's model for its type, with no undeclared fields."""
    model = _models(dialect)[event["type"]].model_validate(event)
    extras = [p for p in _undeclared(model, "") if (event["type"], p.lstrip(".")) not in UNDECLARED_FIELDS]
    assert not extras, f"{event['type']} has fields the SDK does not declare: {extras}"


def check_session_log(session: EngineSession) -> None:
    for event in session.log.sent():
        assert orjson.loads(orjson.dumps(event)) == event  # plain JSON values only: it round-trips
        check_sdk_types(event, session.dialect)


@asynccontextmanager
async def running_engine(**overrides: Any) -> AsyncIterator[EngineServer]:
    """An engine (pace 0 unless overridden); when the block ends, every event every session sent
    is checked against the official SDK's server event types."""
    config = EngineConfig(**{"pace": 0.0, **overrides})
    async with serve_engine(config) as server:
        yield server
    for session in server.sessions:
        check_session_log(session)


# ---------------------------------------------------------------- client
class Client:
    """A Realtime client over a plain ``websockets`` connection."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws
        self.received: list[dict[str, Any]] = []

    async def send(self, event: dict[str, Any]) -> None:
        await self.ws.send(orjson.dumps(event).decode())

    async def recv(self) -> dict[str, Any]:
        async with asyncio.timeout(TIMEOUT):
            event: dict[str, Any] = orjson.loads(await self.ws.recv())
        self.received.append(event)
        return event

    async def expect(self, kind: str) -> dict[str, Any]:
        """The next event, which must be of type ``kind``."""
        event = await self.recv()
        assert event["type"] == kind, event
        return event

    async def until(self, kind: str) -> list[dict[str, Any]]:
        """Events up to and including the next one of type ``kind``."""
        events = []
        while True:
            event = await self.recv()
            events.append(event)
            if event["type"] == kind:
                return events

    async def append(self, audio: bytes, fmt: AudioFormat, chunk_ms: int = 20) -> None:
        step = chunk_ms * fmt.bytes_per_ms
        for start in range(0, len(audio), step):
            chunk = base64.b64encode(audio[start : start + step]).decode()
            await self.send({"type": "input_audio_buffer.append", "audio": chunk})

    async def update(self, session: dict[str, Any]) -> dict[str, Any]:
        """Send session.update; returns the session.updated event."""
        await self.send({"type": "session.update", "session": session})
        return await self.expect("session.updated")


@asynccontextmanager
async def connect(
    server: EngineServer,
    *,
    model: str = "gpt-realtime",
    beta: bool = False,
    key: str = "test-key",
) -> AsyncIterator[Client]:
    """Connect and consume the greeting events (``session.created``, beta's conversation.created)."""
    headers = {"Authorization": f"Bearer {key}"}
    if beta:
        headers["OpenAI-Beta"] = "realtime=v1"
    async with websockets.connect(
        f"{server.url}?model={model}", additional_headers=headers, compression=None, max_size=None
    ) as ws:
        client = Client(ws)
        await client.expect("session.created")
        if beta:
            await client.expect("conversation.created")
        yield client


# ---------------------------------------------------------------- audio
def ga_session(fmt: AudioFormat, **input_extra: Any) -> dict[str, Any]:
    """A GA session.update body using ``fmt`` both ways."""
    return {
        "type": "realtime",
        "audio": {"input": {"format": fmt.ga(), **input_extra}, "output": {"format": fmt.ga()}},
    }


def silence(ms: int, fmt: AudioFormat) -> bytes:
    return fmt.encode(bytes(ms * fmt.rate // 1000 * 2))


def speech(text: str, fmt: AudioFormat) -> bytes:
    pcm, _ = SpeechVoice().synthesize(text, fmt.rate)
    return fmt.encode(pcm)


def wav_audio(path: Path, fmt: AudioFormat) -> bytes:
    """A shared 8 kHz WAV in ``fmt`` (resampled to 24 kHz for PCM)."""
    with wave.open(str(path)) as wav:
        pcm = wav.readframes(wav.getnframes())
    if fmt.rate != 8000:
        samples = resample_poly(np.frombuffer(pcm, dtype="<i2").astype(np.float64), fmt.rate // 8000, 1)
        pcm = np.clip(np.round(samples), -32768, 32767).astype("<i2").tobytes()
    return fmt.encode(pcm)


def decode_audio(events: list[dict[str, Any]], kind: str = "response.output_audio.delta") -> bytes:
    return b"".join(base64.b64decode(e["delta"]) for e in events if e["type"] == kind)
