from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bridge.engine import create_engine_app
from bridge.engine.rest import create_rest_app, rest_routes
from bridge.errors import UpstreamError
from bridge.openai_api import OpenAIClient
from bridge.web.asgi_server import serve_asgi
from tests.integration.engine_rest_peer import KEY, Peer, running_peer


@pytest.fixture
async def peer(tmp_path: Path) -> AsyncIterator[Peer]:
    async with running_peer(tmp_path) as running:
        yield running


async def test_auth_is_required_on_every_route(peer: Peer) -> None:
    async with peer.http(key=None) as anonymous, peer.http(key="sk-wrong-key-987654") as wrong:
        missing = await anonymous.get("/files")
        assert missing.status_code == 401
        assert missing.json() == {
            "error": {
                "message": "You didn't provide an API key. You need to provide your API key in an Authorization "
                "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            }
        }
        bad = await wrong.post("/responses", json={"model": "m", "input": "x"})
        assert bad.status_code == 401
        assert bad.json()["error"]["code"] == "invalid_api_key"
        assert bad.json()["error"]["message"] == "Incorrect API key provided: sk-***7654."
        for method, path in [
            ("POST", "/files"),
            ("POST", "/uploads"),
            ("POST", "/batches"),
            ("POST", "/audio/transcriptions"),
            ("GET", "/batches/batch_1"),
        ]:
            assert (await anonymous.request(method, path)).status_code == 401, path
    async with peer.client(key="sk-wrong-key-987654") as client:
        with pytest.raises(UpstreamError) as caught:
            await client.list_batches()
    assert (caught.value.status, caught.value.code) == (401, "invalid_api_key")


async def test_any_bearer_passes_when_no_key_is_configured(tmp_path: Path) -> None:
    async with serve_asgi(create_rest_app(tmp_path)) as running:
        async with httpx.AsyncClient(base_url=running.http_url + "/v1") as http:
            assert (await http.get("/files", headers={"Authorization": "Bearer anything"})).status_code == 200
            assert (await http.get("/files")).status_code == 401


async def test_routes_mount_beside_the_realtime_engine(tmp_path: Path) -> None:
    app = create_engine_app(extra_routes=rest_routes(tmp_path, api_key=KEY, batch_pace_s=0))
    async with serve_asgi(app) as running, OpenAIClient(KEY, running.http_url + "/v1") as client:
        stored = await client.upload_file(b"x", "a.txt", "user_data")
        assert await client.file_content(stored.id) == b"x"
        assert (await client.create_response({"model": "m", "input": "Hi."}))["output_text"] == "You said: Hi."


async def test_unknown_urls_and_methods_answer_like_openai(peer: Peer) -> None:
    async with peer.http() as http:
        unknown = await http.post("/nothing")
        assert unknown.status_code == 404
        assert unknown.json()["error"]["message"] == "Invalid URL (POST /v1/nothing)"
        wrong_method = await http.put("/files")
        assert wrong_method.status_code == 405
        assert wrong_method.json()["error"]["message"] == "Invalid URL (PUT /v1/files)"


async def test_a_body_that_is_not_json_is_400(peer: Peer) -> None:
    async with peer.http() as http:
        for content in (b"{nope", b"[1, 2]"):
            response = await http.post("/responses", content=content, headers={"Content-Type": "application/json"})
            assert response.status_code == 400
            assert response.json()["error"]["message"].startswith("We could not parse the JSON body")
        form = await http.post("/files", content=b"purpose=batch", headers={"Content-Type": "text/plain"})
        assert form.status_code == 400 and "multipart/form-data" in form.json()["error"]["message"]


async def test_responses_through_the_client(peer: Peer) -> None:
    fmt = {
        "type": "json_schema",
        "name": "intent",
        "schema": {"type": "object", "properties": {"intent": {"enum": ["billing", "opening_hours"]}}},
    }
    async with peer.client() as client:
        body = await client.create_response(
            {"model": "gpt-5-mini", "input": "When are you open? What are the hours?", "text": {"format": fmt}}
        )
        assert json.loads(body["output_text"]) == {"intent": "opening_hours"}
        with pytest.raises(UpstreamError) as caught:
            await client.create_response({"input": "hi"})
    assert (caught.value.status, caught.value.code) == (400, "missing_required_parameter")


async def test_injected_429s_are_retried_after_the_requested_wait(peer: Peer) -> None:
    peer.faults.fail("/v1/files", 429, {"retry-after": "2"}, times=2)
    async with peer.client() as client:
        created = await client.upload_file(b"x", "a.txt", "user_data")
        assert peer.sleeps == [2.0, 2.0] and peer.faults.hits == {"/v1/files": 2}
        assert [f.id for f in await client.list_files()] == [created.id]  # stored exactly once


async def test_injected_faults_exhaust_the_retries(peer: Peer) -> None:
    peer.faults.fail("/v1/batches", 503, times=3)
    async with peer.http() as http:
        response = await http.get("/batches")
    assert response.status_code == 503
    assert response.json()["error"]["type"] == "server_error"
    async with peer.client(max_retries=1) as client:
        with pytest.raises(UpstreamError) as caught:
            await client.list_batches()
        assert (caught.value.status, caught.value.code) == (503, "server_error")
        assert len(peer.sleeps) == 1
        assert (await client.list_batches()).data == ()  # the plan is used up
    assert peer.faults.hits == {"/v1/batches": 3}


async def test_rate_limit_body_has_openai_shape(peer: Peer) -> None:
    peer.faults.fail("/v1/responses", 429, {"retry-after-ms": "150"})
    async with peer.http() as http:
        response = await http.post("/responses", json={"model": "m", "input": "x"})
    assert response.status_code == 429 and response.headers["retry-after-ms"] == "150"
    assert response.json()["error"]["code"] == "rate_limit_exceeded"
    assert response.json()["error"]["type"] == "requests"
