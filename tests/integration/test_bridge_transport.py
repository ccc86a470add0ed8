"""WebSocketTransport against real servers: a scripted websockets peer and the bundled engine."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request

from bridge.engine.config import EngineConfig
from bridge.engine.server import serve_engine
from bridge.errors import ConfigError, UpstreamError
from bridge.realtime.events import InputAudioBufferAppend, SessionCreated, dump_client_event, parse_server_event
from bridge.realtime.ws import WebSocketTransport
from tests.integration.test_bridge_serve import free_port

SESSION_CREATED = '{"type":"session.created","event_id":"event_1","session":{"id":"sess_1"}}'


@asynccontextmanager
async def peer(frames: list[str], close: tuple[int, str] | None) -> AsyncIterator[tuple[str, list[Request], list[str]]]:
    """A server that sends ``frames``, records what it receives until the client's first message,
    then closes with ``close`` (or waits for the client to close)."""
    requests: list[Request] = []
    received: list[str] = []

    def process_request(connection: ServerConnection, request: Request) -> None:
        requests.append(request)

    async def handler(ws: ServerConnection) -> None:
        for frame in frames:
            await ws.send(frame)
        message = await ws.recv()
        assert isinstance(message, str)
        received.append(message)
        if close is not None:
            await ws.close(*close)
        else:
            await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0, compression=None, process_request=process_request) as server:
        port = server.sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}/v1/realtime", requests, received


async def test_events_skip_malformed_frames_and_a_server_close_is_an_upstream_error() -> None:
    frames = ["not json", '{"no_type":1}', '{"type":"response.done"}', SESSION_CREATED]
    async with peer(frames, (4000, "invalid_request_error.invalid_model")) as (url, requests, received):
        transport = await WebSocketTransport.connect(url, api_key="sk-test", dialect="beta", model="gpt-4o-realtime")
        events = transport.events()
        first = await anext(events)
        append = InputAudioBufferAppend(audio=b"\x00\x01\xff")
        await transport.send(append)
        with pytest.raises(UpstreamError) as caught:
            await anext(events)

    assert first == parse_server_event(SESSION_CREATED, "beta")
    assert type(first) is SessionCreated
    assert transport.malformed == 3
    (request,) = requests
    assert request.path == "/v1/realtime?model=gpt-4o-realtime"
    assert request.headers["Authorization"] == "Bearer sk-test"
    assert request.headers["OpenAI-Beta"] == "realtime=v1"
    assert "Sec-WebSocket-Extensions" not in request.headers, "compression is off"
    assert received == [dump_client_event(append, "beta")]
    assert (caught.value.status, caught.value.code) == (4000, "invalid_model")


async def test_closing_ends_the_events_quietly_and_later_sends_fail() -> None:
    async with peer([SESSION_CREATED], None) as (url, requests, _):
        transport = await WebSocketTransport.connect(url, api_key=None, dialect="ga", model="gpt-realtime")
        events = transport.events()
        await anext(events)
        reader = asyncio.create_task(anext(events))
        await transport.close()
        with pytest.raises(StopAsyncIteration):
            await reader
        with pytest.raises(UpstreamError):
            await transport.send(InputAudioBufferAppend(audio=b"\xff"))
    assert "Authorization" not in requests[0].headers
    assert "OpenAI-Beta" not in requests[0].headers


async def test_refused_unreachable_and_invalid_urls() -> None:
    async with serve_engine(EngineConfig(api_key="sk-right")) as engine:
        with pytest.raises(UpstreamError) as refused:
            await WebSocketTransport.connect(engine.url, api_key="sk-wrong", dialect="ga", model="gpt-realtime")
        accepted = await WebSocketTransport.connect(engine.url, api_key="sk-right", dialect="ga", model="gpt-realtime")
        assert type(await anext(accepted.events())) is SessionCreated
        await accepted.close()
    assert (refused.value.status, refused.value.code) == (401, "invalid_api_key")

    with pytest.raises(UpstreamError) as unreachable:
        await WebSocketTransport.connect(
            f"ws://127.0.0.1:{free_port()}/v1/realtime", api_key="k", dialect="ga", model="m", open_timeout=1
        )
    assert unreachable.value.status is None
    with pytest.raises(ConfigError):
        await WebSocketTransport.connect("http://example.com/", api_key="k", dialect="ga", model="m")
