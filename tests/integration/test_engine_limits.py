"""Connection rules over real sockets: auth, the model parameter, the session limit, closing,
and the server helpers (sessions, wait_until, extra routes)."""

from __future__ import annotations

import asyncio

import httpx
import orjson
import pytest
import websockets
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from bridge.engine import EngineConfig, serve_engine
from bridge.engine.session import expiry_message
from bridge.errors import ConfigError
from tests.integration.engine_support import connect, running_engine


@pytest.mark.parametrize(
    ("headers", "api_key", "code"),
    [
        ({}, None, None),
        ({"Authorization": "Basic abc"}, None, None),
        ({"Authorization": "Bearer "}, None, None),
        ({"Authorization": "Bearer wrong"}, "sk-right", "invalid_api_key"),
    ],
)
async def test_the_upgrade_is_refused_with_401(headers: dict[str, str], api_key: str | None, code: str | None) -> None:
    async with running_engine(api_key=api_key) as server:
        with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
            await websockets.connect(server.url + "?model=gpt-realtime", additional_headers=headers)
        assert refused.value.response.status_code == 401
        error = orjson.loads(refused.value.response.body or b"{}")["error"]
        assert (error["type"], error["code"]) == ("invalid_request_error", code)
        assert not server.sessions


async def test_the_configured_key_is_accepted() -> None:
    async with running_engine(api_key="sk-right") as server, connect(server, key="sk-right") as client:
        assert client.received[0]["type"] == "session.created"


async def test_a_connection_without_model_gets_a_fatal_error() -> None:
    async with running_engine() as server:
        async with websockets.connect(server.url, additional_headers={"Authorization": "Bearer k"}) as ws:
            event = orjson.loads(await ws.recv())
            assert event["error"]["code"] == "missing_model"
            with pytest.raises(websockets.exceptions.ConnectionClosed):
                await ws.recv()
            assert (ws.close_code, ws.close_reason) == (4000, "invalid_request_error.missing_model")


async def test_the_session_limit_closes_with_1001() -> None:
    async with running_engine(session_limit_s=0.3) as server, connect(server) as client:
        error = (await client.expect("error"))["error"]
        assert error == {
            "type": "invalid_request_error",
            "code": "session_expired",
            "message": "Your session hit the maximum duration of 0.3 seconds.",
            "param": None,
            "event_id": None,
        }
        with pytest.raises(websockets.exceptions.ConnectionClosed):
            await client.recv()
        assert (client.ws.close_code, client.ws.close_reason) == (1001, error["message"])
        assert server.sessions[-1].closed and server.sessions[-1].close_code == 1001


async def test_the_session_limit_follows_the_injected_clock() -> None:
    offset = [0.0]
    clock = asyncio.get_running_loop().time
    async with running_engine(session_limit_s=120, clock=lambda: 1_767_000_000 + clock() + offset[0]) as server:
        async with connect(server) as client:
            assert client.received[0]["session"]["expires_at"] - 120 <= 1_767_000_000 + clock()
            offset[0] = 121.0  # two minutes pass; the next frame wakes the engine up
            await client.send({"type": "input_audio_buffer.clear"})
            error = (await client.expect("error"))["error"]
            assert error["message"] == "Your session hit the maximum duration of 2 minutes."
            with pytest.raises(websockets.exceptions.ConnectionClosed):
                await client.recv()
            assert client.ws.close_code == 1001
        # The frame that came too late was not answered.
        assert server.sessions[-1].log.types("sent") == ["session.created", "error"]


def test_expiry_messages() -> None:
    assert expiry_message(3600) == "Your session hit the maximum duration of 60 minutes."
    assert expiry_message(60) == "Your session hit the maximum duration of 1 minute."
    assert expiry_message(90) == "Your session hit the maximum duration of 90 seconds."
    assert expiry_message(1.5) == "Your session hit the maximum duration of 1.5 seconds."


async def test_session_close_and_the_server_helpers() -> None:
    async def ping(request: Request) -> PlainTextResponse:
        return PlainTextResponse("pong")

    async with serve_engine(EngineConfig(pace=0), extra_routes=[Route("/v1/ping", ping)]) as server:
        assert server.url == f"ws://127.0.0.1:{server.port}/v1/realtime"
        async with httpx.AsyncClient() as http:
            assert (await http.get(server.http_url + "/v1/ping")).text == "pong"
        async with connect(server) as first, connect(server) as second:
            await first.send({"type": "session.close"})
            with pytest.raises(websockets.exceptions.ConnectionClosed):
                await first.recv()
            assert first.ws.close_code == 1000
            await second.update({"type": "realtime"})
        async with asyncio.timeout(5):
            await server.wait_until(lambda: all(session.closed for session in server.sessions))
        assert len(server.sessions) == 2 and server.sessions[0].close_code == 1000


async def test_a_busy_port_is_a_config_error() -> None:
    async with serve_engine(EngineConfig()) as server:
        with pytest.raises(ConfigError, match="cannot listen"):
            async with serve_engine(EngineConfig(), port=server.port):
                pass


async def test_seeded_engines_mint_the_same_ids() -> None:
    ids = []
    for _ in range(2):
        async with running_engine(seed=7) as server, connect(server) as client:
            ids.append(client.received[0]["session"]["id"][10:])
    assert ids[0] == ids[1]
